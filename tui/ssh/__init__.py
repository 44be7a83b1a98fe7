"""``veilig serve ssh``: the dialogs over SSH, without anything to install.

``server`` decides who connects and what they may open, ``session`` runs one
terminal session (a PTY and its own ``veilig`` process), ``files`` the per-session
file areas and their SFTP server, ``keys`` the host key and the staff members' keys.
"""
