"""``veilig desk``: the support desk, a module per screen.

log in (``login``) → inbox (``inbox``) → a conversation: read, save, reply
(``conversation``) · a new secure message (``compose``) · *Sent* with revoke
(``sent``). ``table`` is the base and the cells of the inbox and *Sent*; the yes/no
question of the last two is :mod:`tui.confirm`. The unlocked mailbox key lives in the
``Desk`` object (``core.desk``) only.
"""
