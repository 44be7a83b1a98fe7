"""``veilig desk``: the support desk, a module per screen.

log in (``login``) → inbox (``inbox``) → a conversation: read, save, reply
(``conversation``) · a new secure message (``compose``) · *Sent* with revoke
(``sent``). ``confirm`` is the yes/no question of the last two, ``cells`` the table
cells of the inbox and *Sent*. The unlocked mailbox key lives in the ``Desk`` object
(``core.desk``) only.
"""
