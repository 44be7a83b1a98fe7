"""``veilig demo``: scripted walkthroughs played on the real apps.

``script`` is the language (a step per line, parsed and split per app), ``player``
plays steps through an app's Pilot as a person would, ``demo`` runs the apps one
after another and sums up; ``scripts/`` holds the seed's three walkthroughs
(English, and Dutch in ``nl/``).
"""
