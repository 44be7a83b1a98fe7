"""The attachments benchmark's child process: one seal or one open, timed inside it, its
peak memory (VmHWM) read by the parent (``bench.on_files``).

``python -m bench.seal_child VERB STATE BLOB_DIR PATH`` with VERB one of
``seal`` (``seal_message`` into the ``FileBlobStore``: O_DIRECT writes and fsync, as in
use), ``seal-nosync`` (the same without its fsync), ``open`` (``save_attachment``:
temporary file, fsynced, linked into place once verified), ``seal-null``/``open-null``
(the pipeline alone, to /dev/null) and ``idle`` (the baseline of peak memory: loaded,
nothing sealed). Prints one JSON line: ``seconds`` and ``peak_mib``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

GiB = 1024**3
VERBS = ("idle", "seal", "seal-nosync", "seal-null", "open", "open-null")


def main(argv: list[str]) -> int:
    from dataclasses import replace

    from core.attachments import Attachment
    from core.clock import utc_now
    from core.keys import MailboxPrivateKey
    from core.models import Conversation, Direction, ItemRole, Message, SealedItem
    from core.policy import DEFAULT_POLICY
    from core.saving import save_attachment
    from core.sealing import Draft, Sender, seal_message
    from core.stream import ContentKey
    from storage.blobs import FileBlobStore

    if argv[0] == "idle":  # the baseline of peak memory: loaded, nothing sealed
        print(json.dumps({"peak_mib": peak_mib()}))
        return 0
    verb, state_path, blob_dir, path = argv
    state = Path(state_path)
    # Without its fsync: the same store, pipeline and writes, no fsync of blob or folder.
    blobs = FileBlobStore(Path(blob_dir), durable=verb != "seal-nosync")
    if verb in ("seal-null", "open-null"):
        # The pipeline alone, to /dev/null: what reading and the crypto cost, without
        # writing a file (compared with age -o /dev/null).
        from core.pipeline import open_file, seal_file
        from core.stream import new_content_key

        start = time.perf_counter()
        with open(path, "rb") as source, open(os.devnull, "wb") as sink:
            if verb == "seal-null":
                seal_file(new_content_key(), b"bench", source, sink)
            else:
                saved = json.loads(state.read_text())
                key = ContentKey(bytes.fromhex(saved["key"]))
                context = f"{saved['id']}|attachment|0".encode()  # core.labels.stream_item
                with blobs.open(saved["items"][-1][2]) as blob:
                    open_file(key, context, blob, sink)
        seconds = time.perf_counter() - start
    elif verb.startswith("seal"):
        # The product's limit is 2 GiB per file; the benchmark lifts it to seal 4 GiB
        # through the same code path.
        policy = replace(DEFAULT_POLICY, max_attachment_bytes=8 * GiB, max_message_bytes=8 * GiB)
        key = MailboxPrivateKey.generate()
        now = utc_now()
        conversation = Conversation(mailbox_id="bench", created_at=now)
        message = Message(
            conversation_id=conversation.id,
            direction=Direction.INBOUND,
            wrapped_key=b"",
            created_at=now,
        )
        attachment = Attachment.from_path(Path(path), policy)
        start = time.perf_counter()
        content_key = seal_message(
            blobs=blobs,
            mailbox_key=key.public_key(),
            message=message,
            sender=Sender("Bench", "bench@example.nl"),
            draft=Draft("subject", "body", (attachment,)),
        )
        seconds = time.perf_counter() - start
        attachment.close()
        state.write_text(
            json.dumps(
                {
                    "id": message.id,
                    "conversation_id": message.conversation_id,
                    "key": content_key.hex(),
                    "items": [
                        [i.role.value, i.position, i.blob_id, i.sealed_size] for i in message.items
                    ],
                }
            )
        )
    else:
        saved = json.loads(state.read_text())
        message = Message(
            id=saved["id"],
            conversation_id=saved["conversation_id"],
            direction=Direction.INBOUND,
            wrapped_key=b"",
            created_at=utc_now(),
            items=[SealedItem(ItemRole(r), p, b, s) for r, p, b, s in saved["items"]],
        )
        start = time.perf_counter()
        save_attachment(
            blobs=blobs,
            key=ContentKey(bytes.fromhex(saved["key"])),
            message=message,
            position=0,
            destination=Path(path),
        )
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib()}))
    return 0


def peak_mib() -> float:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: on Linux that
    also counts the parent's memory at fork time, which is the parent's, not ours."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in VERBS:
        sys.exit(f"usage: python -m bench.seal_child {{{'|'.join(VERBS)}}} STATE BLOB_DIR PATH")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main(sys.argv[1:]))
