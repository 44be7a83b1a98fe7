"""One small protocol per aggregate, a module each, as storage.repository implements
them a module each: staff, conversations, search, holds, participants, challenges,
outbox, audit, rotation. core.ports joins them into one transaction; the rest of the
core imports them from there."""
