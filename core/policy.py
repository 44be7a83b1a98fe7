"""Every security number of veilig, in one place, each with the reason it is safe.

Sources:
- NIST SP 800-63B (rev. 3, §5.1.3 out-of-band, §5.2.2 rate limiting; rev. 4 §3.1.3):
  out-of-band secrets of at least 6 random digits, valid for at most 10 minutes,
  used once; failed attempts limited.
- OWASP ASVS 5.0, V6 (authentication) and V11 (cryptography).
- RFC 9106 §4: Argon2id, second recommended option (t=3, 64 MiB, p=4) for
  environments with less memory than the first option's 2 GiB.
- RFC 6238 (TOTP): 30 s step, one step of clock drift allowed.
- GDPR art. 5(1)(e) (storage limitation); the Dutch Minister's decision on log
  retention (Staatscourant 2019, 38007: NEN 7513 logging at least 5 years); WGBO
  art. 7:454 (20 years for the medical record itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta


@dataclass(frozen=True)
class Argon2Cost:
    """Argon2id cost (RFC 9106 §4, second recommended option)."""

    iterations: int = 3
    memory_kib: int = 64 * 1024
    lanes: int = 4


@dataclass(frozen=True)
class Policy:
    # --- one-time codes (e-mail for the starter, SMS for outbound) -------------
    # 6 digits: NIST SP 800-63B minimum for out-of-band codes. With at most
    # `code_attempts` guesses per code and `codes_per_destination_per_hour` codes,
    # an attacker's chance per destination per hour is 5*5/10^6 = 1 in 40,000.
    code_digits: int = 6
    # 10 minutes: NIST SP 800-63B upper bound for out-of-band secrets.
    code_lifetime: timedelta = timedelta(minutes=10)
    # 5 attempts, then the code is void: a typo or two is fine, guessing is not.
    code_attempts: int = 5
    # 5 codes per destination per hour: limits resend flooding (and SMS cost pumping).
    codes_per_destination_per_hour: int = 5
    # Wait before another code may be requested for the same destination, so that
    # an impatient double press does not burn the hourly budget.
    code_resend_cooldown: timedelta = timedelta(seconds=30)
    # SMS cost pumping: the limits above are per number, and each reference reaches one
    # number, so one attacker gets at most 5 SMS per hour per reference they hold. Many
    # references (a leaked batch of notification e-mails, or a bug) would still multiply
    # that. So a circuit breaker caps all text messages together: at most this many per
    # hour, then every request gets the same "too many codes" answer as above (OWASP ASVS
    # 5.0 V6 anti-automation; NIST SP 800-63B §5.2.2 rate limiting; OWASP's "SMS pumping"
    # guidance: cap the volume a single feature can send). 100 an hour is far more than
    # a care administration office sends, and bounds the cost of abuse to a few euros.
    sms_per_hour: int = 100

    # --- staff passwords -------------------------------------------------------
    # 12 characters: NIST SP 800-63B-4 requires at least 15 for single-factor,
    # 8 when used with another factor; staff always add TOTP, 12 leaves margin.
    staff_password_min_length: int = 12
    # And no password that zxcvbn guesses in fewer than 10^10 tries (its score 4): NIST
    # SP 800-63B §3.1.1.2 asks to refuse breached, common, dictionary and context words.
    staff_password_min_score: int = 4
    argon2: Argon2Cost = field(default_factory=Argon2Cost)

    # Log-in throttling (NIST SP 800-63B §5.2.2, OWASP ASVS V6.3): after 5 failures
    # for one address within 15 minutes, further tries wait out the window. Counted by
    # the typed address, so unknown accounts are throttled exactly like known ones.
    # Not per source, on purpose: a terminal program has no trustworthy source (over SSH
    # SSH_CONNECTION is whatever the caller's environment says; locally there is none),
    # and per-source counting would let many sources multiply the guesses per account.
    # The cost: whoever can reach the desk and knows a staff address can pause its log-in
    # for one window at a time; every such try is in the audit log under that address.
    login_failures_allowed: int = 5
    login_failure_window: timedelta = timedelta(minutes=15)

    # --- lifetime caps on guessing (NIST SP 800-63B §5.2.2: at most 100 consecutive
    # failed attempts on one account, then lock until someone acts) --------------------
    # The windows above reset: 5 log-ins per 15 minutes is 480 a day, forever; 25 code
    # guesses an hour per destination is ~0.8 % over 14 days. These caps end that.
    # A staff account locks after 100 failed log-ins in a row (NIST's maximum; at the
    # throttle's pace that is 5 hours of guessing), until `veilig staff unlock`.
    staff_failed_logins_allowed: int = 100
    # A recipient locks after 20 wrong codes over all their codes: a 6-digit code then
    # falls to guessing with a chance of 20 in 10^6 over the message's whole life, where
    # typos by the real person stay far below it. Until staff unlock them in *Sent*.
    recipient_code_failures_allowed: int = 20

    # --- staff invitations (core.enrolment) --------------------------------------------
    # An invitation holds the mailbox key under its two codes until the newcomer enrols.
    # 72 hours (issue 14): a colleague who is out for two days can still enrol, and a
    # forgotten invitation does not linger. NIST SP 800-63A §4.4.1.6 allows an enrolment
    # code sent to an e-mail address 24 hours, because there the e-mail alone completes
    # it; here it completes nothing without the hand-over code that the admin gives in
    # person or by phone. OWASP ASVS 5.0 V6: initial secrets expire and work once.
    staff_invitation_lifetime: timedelta = timedelta(hours=72)
    # Wrong hand-over codes before the invitation is destroyed: the code has 80 random
    # bits (and a check character that catches typos before a try counts), so 5 tries
    # are for typos only; NIST SP 800-63B §5.2.2 (limit failed attempts).
    staff_invitation_attempts: int = 5

    # --- TOTP (RFC 6238) -------------------------------------------------------
    totp_digits: int = 6
    totp_interval_seconds: int = 30
    totp_valid_window: int = 1  # +-1 step of clock drift, RFC 6238 §5.2

    # --- sessions ---------------------------------------------------------------------
    # An unlocked screen left alone locks: the desk drops the mailbox key and asks for a
    # log-in again; a guest's or recipient's unlocked dialog closes. 15 minutes: OWASP
    # ASVS 5.0 V7.3 (inactivity timeout), and the NEN 7510 practice for shared terminals.
    idle_lock: timedelta = timedelta(minutes=15)

    # --- `veilig serve ssh` ------------------------------------------------------------
    # What each thing costs: a terminal session is a whole Python process with Textual: measured 94
    # MB resident (70 MB of it its own, the rest shared libraries) at the guest's first question,
    # 101 MB (75 MB own) in the desk after log-in, 133 MB with a full message body pasted; issue #19
    # saw 92-116 MB during the flows. A connection that has no session yet costs the server some
    # kilobytes and a key exchange. Limits are counted per source: an IPv4 address, or an IPv6 /64
    # (what one subscriber gets at least; a single IPv6 address would be no limit at all). Not per
    # IPv4 /24: that would put unrelated practices of one provider (or one carrier-grade NAT) into
    # one count.
    # 8 connections per source leave room for a practice behind one NAT address (a terminal plus
    # scp/sftp per person). 40 terminal sessions in all bound the processes to about 6.4 GB at the
    # worst measured 159 MB each, saving an attachment (3 GB at the usual 75 MB own): a small
    # office's host, with room for the database and the desk; a care administration office
    # rarely has more than a few practitioners connected at once. Guests (no authentication)
    # may hold 32 of them: the other 8 stay for staff, whom a flood of guests from many
    # addresses must not keep from their desk.
    ssh_connections_per_address: int = 8
    ssh_sessions_total: int = 40
    ssh_guest_sessions_total: int = 32
    # A connection must open its session within 60 s of connecting (OpenSSH's
    # LoginGraceTime is 120 s; nobody types during the log-in here), or it is closed:
    # guests authenticate at once, so the log-in timeout alone never ends `ssh -N`.
    # Connections without a session are capped apart from sessions, so that idle ones
    # cannot take the places of people: at most 4 per source (people's clients are
    # there for well under a second) and 128 in all (kilobytes each), so filling them
    # takes 32 sources that reconnect every minute.
    ssh_login_timeout: timedelta = timedelta(seconds=60)
    ssh_waiting_per_address: int = 4
    ssh_waiting_total: int = 128
    # A session's file login may have this many connections at once (an scp up, one
    # down, an sftp, one spare); each lives only as long as its session.
    ssh_file_connections_per_session: int = 4

    # --- `veilig serve web` --------------------------------------------------------------
    # Each browser tab is its own `veilig` process, like each SSH terminal (so about as
    # heavy: see the SSH numbers above): 8 per address for a practice behind one NAT
    # address; 100 in all, which at about 100 MB each asks 10 GB of the host.
    web_sessions_per_address: int = 8
    web_sessions_total: int = 100
    # A page carries a one-time ticket for its WebSocket. Unused, it expires like an SSH
    # log-in that never finishes. Tickets wait in memory, so their number is capped too:
    # per address (a person reloading) and overall (a flood of page requests); past a cap
    # the oldest goes first, which a real person only notices as "reload the page".
    web_ticket_lifetime: timedelta = timedelta(seconds=60)
    web_tickets_per_address: int = 16
    web_tickets_total: int = 1000
    # A closed tab or a dropped connection: the process is asked to stop (SIGTERM) and
    # killed (SIGKILL) if it has not within 1 s. Issue #17 asks that a closed tab ends its
    # process within 2 s; Textual's clean exit takes a fraction of a second on a quiet
    # host but can take longer on a loaded one, so the kill comes at 1 s to keep the 2 s.
    # Killing is safe: the outbox and sealing are built to survive a crash (DESIGN.md).
    web_hangup_grace: timedelta = timedelta(seconds=1)
    # A connection that silently vanished (a phone leaving Wi-Fi) is noticed by WebSocket
    # pings: one every 10 s, and gone when one goes unanswered.
    web_heartbeat: timedelta = timedelta(seconds=10)
    # One message from the browser is keystrokes or a paste, never a file (files go by
    # upload, with the attachment limits below): 1 MiB is a very long paste.
    web_max_input_message_bytes: int = 1024**2
    # A download link the app offered works once, and only this long: the browser
    # fetches it at once, and a link that ends up in a log or history is worthless soon.
    web_download_lifetime: timedelta = timedelta(seconds=60)

    # --- what one field takes ---------------------------------------------------------
    # A paste of a megabyte into a field kept a core busy redrawing it for as long as it
    # stayed (issue #19), so fields take at most this much, cut as it comes in. A one-line
    # answer: 4,096 characters, the longest path Linux takes (PATH_MAX), far beyond any
    # name, address, subject, reference, code or password.
    field_max_chars: int = 4096
    # A message body: 100,000 characters, some 40 printed pages; longer goes as a file.
    body_max_chars: int = 100_000

    # --- attachments ------------------------------------------------------------
    # Limits that keep one sender from filling the disk; checked before sealing. A
    # browser session's uploads are held to the same three numbers, while they arrive.
    max_attachment_bytes: int = 2 * 1024**3
    max_message_bytes: int = 4 * 1024**3
    max_attachments: int = 50

    # --- secure messages to outside recipients ---------------------------------------
    # How long a reference opens its conversation. Two weeks covers holidays; staff
    # may choose 1..90 days per message (data minimisation, GDPR art. 5(1)(c)).
    message_expiry_default: timedelta = timedelta(days=14)
    message_expiry_max: timedelta = timedelta(days=90)

    # --- delivery (outbox) -------------------------------------------------------
    delivery_first_retry: timedelta = timedelta(seconds=5)
    delivery_max_backoff: timedelta = timedelta(minutes=30)
    # Two days of retries at the capped backoff: longer than any planned outage.
    delivery_give_up_after_attempts: int = 100
    # A send killed between writing its blobs and committing its rows leaves ciphertext
    # nobody refers to. `veilig outbox` removes it once it is this old: far longer than
    # any send takes (4 GiB seal in minutes), so a send in progress is never touched.
    orphan_blob_grace: timedelta = timedelta(hours=24)
    # Mails handed to the servers at once. Each wave of this many is claimed in one
    # transaction and recorded in one, so a crash mid-wave can send at most this many
    # twice (receivers drop the copies by their stable Message-ID), and one wave lasts
    # at most one SMTP timeout (30 s), well inside the delivery lease (2 min).
    delivery_concurrency: int = 10

    # --- retention and purge (issue 18) ------------------------------------------------
    # How long a conversation's content (messages, attachments, wrapped keys, contact
    # details) is kept after its last activity: its last message, or the end of the last
    # reference that opens it, whichever is later. Then the purge destroys it; the audit
    # entries stay. veilig is a channel, not the record: the care record and the
    # administration live elsewhere (WGBO art. 7:454 keeps the record 20 years; the tax
    # administration 7), and staff file what they need there. GDPR art. 5(1)(e) asks to
    # keep personal data no longer than the purpose needs: 90 days after the last activity
    # covers a quarter's declarations and their questions, and is what Zorgmail keeps
    # secure mail. An office chooses its own (`veilig retention DAYS`), within these bounds.
    retention_default: timedelta = timedelta(days=90)
    # Shorter than a month, conversations would vanish while people still answer them.
    retention_min: timedelta = timedelta(days=30)
    # Longer than the medical record itself is never needed (WGBO art. 7:454: 20 years).
    retention_max: timedelta = timedelta(days=20 * 365)
    # The outbox worker purges once a day (and signs the audit head then).
    purge_interval: timedelta = timedelta(days=1)
    # Codes, failed log-ins and delivered or given-up outbox rows serve only limits of
    # an hour or 15 minutes (above) and the delivery itself: gone after a day.
    records_kept: timedelta = timedelta(days=1)
    # The audit log is kept whole: its entries name no content, and the Dutch Minister's
    # decision on NEN 7513 logging (Staatscourant 2019, 38007) asks for at least 5 years
    # (NEN 7513 §8.5: at most the record's own term). veilig deletes no audit entry; this
    # number is said where the retention is shown.
    audit_log_kept_at_least: timedelta = timedelta(days=5 * 365)

    def with_cheap_kdf(self) -> Policy:
        """The same policy with a fast Argon2id, for tests and throwaway demos only."""
        return replace(self, argon2=Argon2Cost(iterations=1, memory_kib=8, lanes=1))


DEFAULT_POLICY = Policy()
