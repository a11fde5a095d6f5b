#!/usr/bin/python3
"""Writes the seed corpora of the libFuzzer targets: fuzz/corpus/<target>/.

    /usr/bin/python3 fuzz/make_corpus.py [--out fuzz/corpus]

Every seed is generated here from nothing but patterns and constants (and,
for a few image seeds, a thumbnail of a Debian-packaged photo): small JPEG
(baseline, progressive, grayscale, CMYK, restart markers, EXIF orientation,
many scans), PNG (RGB, gray, palette, 16-bit, alpha), WebP (lossy,
lossless), TIFF, BMP; short video clips made by ffmpeg from its test
sources (h264/mp4, mpeg4/avi, vp8/webm, vp9/mkv, mjpeg/avi, theora/mkv,
gif); hash lists in each format; vPDQ files; Qt rcc archives; page tokens
under the fuzzing key; audit logs signed with the fuzzing key; and
serialized requests for the MatchService and IngestService targets, whose
hashes are the constants fuzz/match_service_fuzzer.cc stores.

Needs Debian's python3-pil (pulled in by python3-skimage, deploy/setup.sh),
python3-cryptography and ffmpeg. Output is deterministic for given package
versions; the seeds are committed (keep the total under ~2 MB), so CI does
not run this.
"""

import argparse
import base64
import hashlib
import hmac
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = "/usr/share/backgrounds/mate/nature/GreenMeadow.jpg"


# ---- protobuf wire format (hand-encoded: no generated code needed) ----


def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_int(field, value):
    return varint(field << 3) + varint(value)


def pb_bytes(field, value):
    if isinstance(value, str):
        value = value.encode()
    return varint(field << 3 | 2) + varint(len(value)) + value


def pb_double(field, value):
    return varint(field << 3 | 1) + struct.pack("<d", value)


# ---- images ----


def gradient(width, height):
    """The pattern of match_service_fuzzer.cc's GradientPng (RGB)."""
    im = Image.new("RGB", (width, height))
    px = im.load()
    for y in range(height):
        for x in range(width):
            # OpenCV's Vec3b there is (B, G, R).
            b, g, r = (x * 4) & 255, (y * 5) & 255, ((x + y) * 2) & 255
            px[x, y] = (r, g, b)
    return im


def encode(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def exif_orientation(value):
    """A minimal big-endian EXIF block with one Orientation entry."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, value, 0)
    ifd += struct.pack(">I", 0)
    return b"Exif\0\0" + b"MM\0*" + struct.pack(">I", 8) + ifd


def repeat_last_scan(jpeg, times):
    """A progressive JPEG whose last scan is repeated (the issue-14 attack,
    scaled down): every scan is another pass over all coefficients."""
    sos = jpeg.rfind(b"\xff\xda")
    eoi = jpeg.rfind(b"\xff\xd9")
    return jpeg[:eoi] + jpeg[sos:eoi] * times + jpeg[eoi:]


def image_seeds():
    g = gradient(64, 48)
    seeds = {
        "gradient_64x48.png": encode(g, "PNG"),
        "baseline.jpg": encode(g, "JPEG", quality=80),
        "progressive.jpg": encode(g, "JPEG", quality=80, progressive=True),
        "gray.jpg": encode(g.convert("L"), "JPEG", quality=75),
        "gray_progressive.jpg": encode(g.convert("L"), "JPEG", progressive=True),
        "subsampling_444.jpg": encode(g, "JPEG", quality=90, subsampling=0),
        "cmyk.jpg": encode(g.convert("CMYK"), "JPEG", quality=80),
        "orientation6.jpg": encode(g, "JPEG", exif=exif_orientation(6)),
        "gray.png": encode(g.convert("L"), "PNG"),
        "palette.png": encode(g.convert("P"), "PNG"),
        "alpha.png": encode(g.convert("RGBA"), "PNG"),
        "gray16.png": encode(g.convert("I").point(lambda v: v * 257), "PNG"),
        "lossy.webp": encode(g, "WEBP", quality=70),
        "lossless.webp": encode(g, "WEBP", lossless=True),
        "alpha.webp": encode(g.convert("RGBA"), "WEBP", lossless=True),
        "raw.tiff": encode(g, "TIFF"),
        "deflate.tiff": encode(g, "TIFF", compression="tiff_adobe_deflate"),
        "lzw_gray.tiff": encode(g.convert("L"), "TIFF", compression="tiff_lzw"),
        "rgb.bmp": encode(g, "BMP"),
        "palette.bmp": encode(g.convert("P"), "BMP"),
    }
    seeds["many_scans.jpg"] = repeat_last_scan(seeds["progressive.jpg"], 24)
    if os.path.exists(PHOTO):
        photo = Image.open(PHOTO).convert("RGB")
        photo.thumbnail((96, 96))
        seeds["photo_thumb.jpg"] = encode(photo, "JPEG", quality=85)
        seeds["photo_thumb.webp"] = encode(photo, "WEBP", quality=80)
    for name in ("cmyk_32x24.jpg", "palette_32x24.png"):
        path = os.path.join(ROOT, "src/hashing/testdata", name)
        with open(path, "rb") as f:
            seeds["testdata_" + name] = f.read()
    return seeds


# ---- video ----


VIDEOS = [
    ("h264.mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-g", "5",
                  "-pix_fmt", "yuv420p"]),
    ("mpeg4.avi", ["-c:v", "mpeg4", "-g", "5", "-q:v", "10"]),
    ("vp8.webm", ["-c:v", "libvpx", "-b:v", "60k", "-g", "5"]),
    ("vp9.mkv", ["-c:v", "libvpx-vp9", "-b:v", "60k", "-g", "5",
                 "-deadline", "realtime", "-cpu-used", "8"]),
    ("mjpeg.avi", ["-c:v", "mjpeg", "-q:v", "12"]),
    ("theora.mkv", ["-c:v", "libtheora", "-q:v", "3", "-g", "5"]),
    ("anim.gif", ["-c:v", "gif"]),
]


def video_seeds():
    seeds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, codec in VIDEOS:
            out = os.path.join(tmp, name)
            # 2 s of 48x32 at 5 fps: a scene cut at 1 s (testsrc, then a
            # solid colour) so that scene-change sampling runs.
            cmd = ["ffmpeg", "-v", "error", "-y",
                   "-f", "lavfi", "-i", "testsrc=size=48x32:rate=5:duration=1",
                   "-f", "lavfi", "-i", "color=c=red:size=48x32:rate=5:duration=1",
                   "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]",
                   "-map", "[v]", "-an", "-threads", "1",
                   "-fflags", "+bitexact", "-flags:v", "+bitexact"] + codec + [out]
            subprocess.run(cmd, check=True)
            with open(out, "rb") as f:
                seeds[name] = f.read()
    return seeds


# ---- hash lists ----


def pdq_hex(seed):
    return bytes((seed * 37 + i * 101) & 255 for i in range(32)).hex()


CSV_SEEDS = {
    "minimal.csv": "signal_type,signal_value\npdq,%s\n" % pdq_hex(1),
    "export.csv": (
        "signal_type,signal_value,external_id,quality,classification,note,"
        "id,source_agency,state,created_at,updated_at\n"
        "pdq,%s,case-1,90,class-a,first,1,agency-a,active,"
        "2024-01-02T03:04:05.000006Z,2024-01-02T03:04:05.000006Z\n"
        "md5,%s,case-2,,class-b,\"quoted, with \"\"quotes\"\"\",2,agency-a,"
        "pending,,\n"
        "sha256,%s,,,,\"multi\nline\",,,,,\n" %
        (pdq_hex(2), "11" * 16, "22" * 32)),
    "threatexchange.csv": (
        "\ufeffindicator_type,indicator,descriptor_id,tags\r\n"
        "HASH_PDQ,%s,te-1,tag1\r\n"
        "hash_md5,%s,te-2,\r\n" % (pdq_hex(3).upper(), "ab" * 16)),
    "short_hashes.csv": (
        "Signal_Type,Signal_Value,Quality\n"
        "phash,0123456789abcdef,\n"
        "dhash,fedcba9876543210,55\n"),
    "errors.csv": (
        "signal_type,signal_value,bogus\n"
        "pdq,xyz,1\n"
        "unknown,00,2,3\n"),
}

JSONL_SEEDS = {
    "minimal.jsonl": '{"signal_type":"pdq","signal_value":"%s"}\n' % pdq_hex(1),
    "export.jsonl": (
        '{"signal_type":"pdq","signal_value":"%s","external_id":"case-1",'
        '"quality":90,"classification":"class-a","note":"n\\u00e9\\n",'
        '"id":1,"source_agency":"agency-a","state":"active",'
        '"created_at":"2024-01-02T03:04:05.000006Z","updated_at":""}\n'
        '{"signal_type":"md5","signal_value":"%s","quality":null}\r\n'
        '\n'
        '{"signal_type":"sha256","signal_value":"%s","note":"\\ud83d\\ude00"}\n'
        % (pdq_hex(2), "11" * 16, "22" * 32)),
    "short_hashes.jsonl": (
        '{ "signal_type" : "phash", "signal_value" : "0123456789abcdef" }\n'
        '{"signal_type":"dhash","signal_value":"FEDCBA9876543210",'
        '"quality":55}\n'),
    "errors.jsonl": (
        '{"signal_type":"pdq","signal_value":"00","x":[1]}\n'
        '{"signal_type":"pdq","signal_value":"%s","signal_type":"md5"}\n'
        'not json\n' % pdq_hex(4)),
}


def lossless(entries):
    lines = [json.dumps(e, separators=(",", ":")) + "\n" for e in entries]
    body = "".join(lines)
    digest = hashlib.sha256(body.encode()).hexdigest()
    return "hashmatch-entries v1\n" + body + "end %d %s\n" % (len(lines), digest)


def b64(hex_string):
    return base64.b64encode(bytes.fromhex(hex_string)).decode()


LOSSLESS_ENTRIES = [
    {"id": "1", "signal_type": "SIGNAL_TYPE_PDQ", "hash": b64(pdq_hex(1)),
     "quality": 90, "source_agency": "agency-a", "external_id": "case-1",
     "classification": "class-a", "state": "VETTING_STATE_ACTIVE",
     "created_at_micros": "1700000000000000",
     "updated_at_micros": "1700000000000001", "note": "first",
     "endorsements": [{"agency": "agency-a", "at_micros": "1700000000000000"},
                      {"agency": "agency-b", "at_micros": "1700000000000002",
                       "note": "confirmed"}],
     "disputes": [{"platform": "platform-p", "at_micros": "1700000000000003",
                   "reason": "false positive", "content_ref": "ref-1",
                   "suspended": False}]},
    {"id": "2", "signal_type": "SIGNAL_TYPE_MD5", "hash": b64("11" * 16),
     "source_agency": "agency-a", "external_id": "case-2",
     "state": "VETTING_STATE_RETRACTED",
     "retraction": {"retracted_by": "agency-a",
                    "retracted_at_micros": "1700000000000004",
                    "reason": "mistake",
                    "previous_state": "VETTING_STATE_PENDING"}},
    {"id": "3", "signalType": "SIGNAL_TYPE_DHASH",
     "hash": b64("fedcba9876543210"), "sourceAgency": "agency-b",
     "externalId": "case-3", "state": "VETTING_STATE_DISPUTED"},
]


def lossless_seeds():
    good = lossless(LOSSLESS_ENTRIES)
    return {
        "three.hashmatch": good,
        "one.hashmatch": lossless(LOSSLESS_ENTRIES[:1]),
        "empty.hashmatch": lossless([]),
        "bad_checksum.hashmatch": good.replace("end 3 ", "end 2 "),
        "truncated.hashmatch": good[:good.rfind("end ")],
    }


def vpdq_seeds():
    lines = ["%d,%d,%s,%.3f\n" % (i * 5, 100 - i, pdq_hex(10 + i), i * 1.0)
             for i in range(4)]
    return {
        "four.vpdq": "".join(lines),
        "loose.vpdq": "0,90,%s,0\r\n1,80,%s,1.5" % (pdq_hex(1).upper(),
                                                   pdq_hex(2)),
        "bad.vpdq": "0,101,%s,0.000\n\n" % pdq_hex(1),
    }


# ---- Qt rcc archives ----


def qt_hash(name):
    """Qt's qt_hash over the name's UTF-16 code units."""
    h = 0
    for unit in struct.unpack(">%dH" % len(name), name.encode("utf-16-be")):
        h = ((h << 4) + unit) & 0xFFFFFFFF
        h ^= (h & 0xF0000000) >> 23
        h &= 0x0FFFFFFF
    return h


def rcc(files, version, compression=None):
    """files: {"/dir/name": bytes}; a tree as Qt's rcc lays it out."""
    tree = {}
    for path, data in files.items():
        node = tree
        parts = path.strip("/").split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = data
    names, name_offsets = bytearray(), {}
    data_blob, nodes = bytearray(), []
    # Breadth-first: each directory's children are consecutive nodes,
    # sorted by name hash. Node 0 is the root (name offset 0, not read).
    nodes.append(("pending_dir", 0))
    pending = [(0, tree)]
    while pending:
        index, children = pending.pop(0)
        ordered = sorted(children.items(), key=lambda kv: qt_hash(kv[0]))
        nodes[index] = ("dir", nodes[index][1], len(ordered), len(nodes))
        for name, child in ordered:
            if name not in name_offsets:
                name_offsets[name] = len(names)
                utf16 = name.encode("utf-16-be")
                names += struct.pack(">HI", len(name), qt_hash(name)) + utf16
            if isinstance(child, dict):
                nodes.append(("pending_dir", name_offsets[name]))
                pending.append((len(nodes) - 1, child))
            else:
                flags = 0
                stored = child
                if compression == "zlib":
                    flags = 1
                    stored = struct.pack(">I", len(child)) + zlib.compress(child, 9)
                elif compression == "zstd":
                    flags = 4
                    stored = subprocess.run(["zstd", "-q", "-c", "-19"],
                                            input=child, check=True,
                                            capture_output=True).stdout
                offset = len(data_blob)
                data_blob += struct.pack(">I", len(stored)) + stored
                nodes.append(("file", name_offsets[name], flags, offset))
    node_size = 14 if version == 1 else 22
    header_size = 20 if version < 3 else 24
    tree_offset = header_size
    data_offset = tree_offset + node_size * len(nodes)
    names_offset = data_offset + len(data_blob)
    out = bytearray(b"qres")
    out += struct.pack(">IIII", version, tree_offset, data_offset, names_offset)
    if version >= 3:
        out += struct.pack(">I", {None: 0, "zlib": 1, "zstd": 4}[compression])
    for n in nodes:
        if n[0] == "dir":
            rec = struct.pack(">IHII", n[1], 2, n[2], n[3])
        else:
            rec = struct.pack(">IHHHI", n[1], n[2], 0, 0, n[3])
        if version >= 2:
            rec += struct.pack(">Q", 1700000000000)
        out += rec
    out += data_blob + names
    return bytes(out)


def rcc_seeds():
    files = {"/images/a.txt": b"hello rcc\n",
             "/images/sub/b.bin": bytes(range(64)),
             "/c.txt": b"top level"}
    seeds = {
        "v1.rcc": rcc(files, 1),
        "v2.rcc": rcc(files, 2),
        "v3_zlib.rcc": rcc(files, 3, "zlib"),
    }
    if shutil.which("zstd"):
        seeds["v3_zstd.rcc"] = rcc(files, 3, "zstd")
    return seeds


# ---- page tokens (page_token_fuzzer.cc's key) ----

PAGE_KEY = b"hashmatch page token fuzzing key"


def page_token(after_id, filter_bytes):
    payload = b"\x01" + struct.pack(">Q", after_id)
    payload += hashlib.sha256(filter_bytes).digest()[:16]
    payload += hmac.new(PAGE_KEY, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(payload).rstrip(b"=")


def entry_filter():
    return pb_int(1, 1) + pb_int(2, 2) + pb_bytes(3, "agency-a")


def page_token_seeds():
    f = entry_filter()
    return {
        "empty_filter": page_token(7, b""),
        "with_filter": page_token(123456789, f) + b"\n" + f,
        "other_filter": page_token(5, f) + b"\n",
        "garbage": b"not a token\nxyz",
    }


# ---- audit logs (audit_record_fuzzer.cc's key) ----

AUDIT_KEY_SEED = b"hashmatch audit fuzzing key seed"


def audit_log(records, sign):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey)
    from cryptography.hazmat.primitives import serialization
    key = Ed25519PrivateKey.from_private_bytes(AUDIT_KEY_SEED)
    raw_pub = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(raw_pub).digest()

    def lp(b):
        if isinstance(b, str):
            b = b.encode()
        return struct.pack(">I", len(b)) + b

    out = bytearray(b"HMAUDIT1")
    prev = bytes(32)
    for i, r in enumerate(records, 1):
        checkpoint = r["action"] == "checkpoint"
        kid = key_id if checkpoint else b""
        enc = (lp("hashmatch.audit.v1") + struct.pack(">Q", i) +
               struct.pack(">q", r["at"]) + lp(r["actor"]) + lp(r["action"]) +
               lp(r["target"]) + lp(r.get("before", b"")) +
               lp(r.get("after", b"")) + struct.pack(">Q", r.get("seq", 0)) +
               lp(r.get("detail", "")) + lp(prev) + lp(kid))
        record_hash = hashlib.sha256(enc).digest()
        msg = (pb_int(1, i) + pb_int(2, r["at"]) + pb_bytes(3, r["actor"]) +
               pb_bytes(4, r["action"]) + pb_bytes(5, r["target"]))
        if r.get("before"):
            msg += pb_bytes(6, r["before"])
        if r.get("after"):
            msg += pb_bytes(7, r["after"])
        if r.get("seq"):
            msg += pb_int(8, r["seq"])
        if r.get("detail"):
            msg += pb_bytes(9, r["detail"])
        msg += pb_bytes(10, prev) + pb_bytes(11, record_hash)
        if checkpoint and sign:
            msg += pb_bytes(12, key.sign(record_hash)) + pb_bytes(13, kid)
        elif checkpoint:
            msg += pb_bytes(13, kid)
        out += struct.pack("<II", len(msg), ~len(msg) & 0xFFFFFFFF) + msg
        prev = record_hash
    return bytes(out)


def audit_seeds():
    digest = hashlib.sha256(b"entry state").digest()
    records = [
        {"at": 1700000000000000, "actor": "agency-a", "action": "submit",
         "target": "entry:1", "after": digest, "seq": 1},
        {"at": 1700000000000001, "actor": "agency-b", "action": "confirm",
         "target": "entry:1", "before": digest, "after": digest, "seq": 2,
         "detail": "looks right"},
        {"at": 1700000000000002, "actor": "system", "action": "checkpoint",
         "target": "chain", "detail": "periodic"},
        {"at": 1700000000000003, "actor": "agency-a", "action": "retract",
         "target": "entry:1", "before": digest, "seq": 3, "detail": "mistake"},
        {"at": 1700000000000004, "actor": "system", "action": "checkpoint",
         "target": "chain", "detail": "close"},
    ]
    signed = audit_log(records, sign=True)
    return {
        "signed.log": signed,   # odd or even size: both paths are seeded
        "signed_torn.log": signed + b"\x10\x00\x00\x00\xef\xff\xff\xff\x08",
        "unsigned.log": audit_log(records, sign=False),
        "one_record.log": audit_log(records[:1], sign=True),
        "magic_only.log": b"HMAUDIT1",
    }


# ---- MatchService requests (match_service_fuzzer.cc) ----


def match_options(**kw):
    fields = {"pdq_threshold": 1, "phash_threshold": 2, "dhash_threshold": 3,
              "dihedral": 4, "max_matches": 6, "video_frames": 7}
    out = b""
    for k, v in kw.items():
        if k == "signals":
            for s in v:
                out += pb_int(5, s)
        else:
            out += pb_int(fields[k], int(v))
    return out


def image_request(image, ref="ref-1", **opts):
    msg = pb_bytes(1, image) + pb_bytes(2, ref)
    if opts:
        msg += pb_bytes(3, match_options(**opts))
    return msg


def query_hash(signal, raw=None, hex_string=None, quality=None):
    msg = pb_int(1, signal)
    if raw is not None:
        msg += pb_bytes(2, raw)
    if hex_string is not None:
        msg += pb_bytes(3, hex_string)
    if quality is not None:
        msg += pb_int(4, quality)
    return msg


def video_frame(pdq, quality, number, ts):
    return (pb_bytes(1, pdq) + pb_int(2, quality) + pb_int(3, number) +
            pb_double(4, ts))


def match_seeds(images, videos):
    pdq = lambda s: bytes.fromhex(pdq_hex(s))
    near = bytearray(pdq(1))
    near[0] ^= 0x0F  # 4 bits away
    hashes = (pb_bytes(1, query_hash(1, raw=bytes(near), quality=90)) +
              pb_bytes(1, query_hash(4, raw=b"\x11" * 16)) +
              pb_bytes(1, query_hash(2, hex_string="0123456789abcdef")) +
              pb_bytes(1, query_hash(3, hex_string="fedcba9876543211")) +
              pb_bytes(2, "hashes-1") + pb_bytes(3, match_options(
                  pdq_threshold=20, max_matches=3)))
    low = pb_bytes(1, query_hash(1, raw=pdq(12), quality=10))
    video_header = (pb_bytes(1, "video-ref") +
                    b"".join(pb_bytes(3, video_frame(pdq(10 + i), 90, i * 30,
                                                     float(i)))
                             for i in range(3)))
    batch = b"".join(
        pb_bytes(1, image_request(images[name], ref=name))
        for name in ("gradient_64x48.png", "baseline.jpg", "lossy.webp"))
    return {
        "image_gradient": b"\x00" + image_request(images["gradient_64x48.png"]),
        "image_progressive": b"\x00" + image_request(
            images["progressive.jpg"], dihedral=0, signals=[1, 2, 3, 4, 5]),
        "image_many_scans": b"\x00" + image_request(images["many_scans.jpg"]),
        "hashes": b"\x01" + hashes,
        "hashes_low_quality": b"\x01" + low,
        "batch": b"\x02" + batch,
        "video_frames": b"\x03" + video_header,
        "video_bytes": b"\x04" + image_request(videos["h264.mp4"], "v"),
    }


# ---- IngestService programs (ingest_service_fuzzer.cc) ----


def call(op, caller, body):
    return bytes([op | caller << 3]) + struct.pack(">H", len(body)) + body


def submission(external_id, content_field, content, classification=None):
    msg = pb_bytes(1, external_id) + pb_bytes(content_field, content)
    if classification:
        msg += pb_bytes(4, classification)
    return msg


def ingest_seeds(images):
    AGENCY_A, AGENCY_B, PLATFORM, ADMIN = 0, 1, 2, 3
    pdq_b = bytes.fromhex("aa" * 32)  # agency-b's seeded entry (id 1)
    submit_same = pb_bytes(1, submission(
        "a-1", 2, query_hash(1, raw=pdq_b, quality=80), "class-a"))
    submit_image = pb_bytes(1, submission(
        "img-1", 3, images["baseline.jpg"]))
    video = b"".join(pb_bytes(1, video_frame(bytes([i]) * 32, 70, i, i * 0.5))
                     for i in range(3))
    submit_video = pb_bytes(1, submission("vid-1", 6, video))
    flt = pb_bytes(1, entry_filter())
    return {
        "submit_confirm": call(0, AGENCY_A, submit_same) +
        call(2, AGENCY_A, pb_int(1, 1) + pb_bytes(2, "agree")) +
        call(5, AGENCY_B, pb_int(1, 1)),
        "submit_image_video": call(0, AGENCY_A, submit_image) +
        call(0, AGENCY_A, submit_video) + call(6, ADMIN, pb_int(2, 2)),
        "dispute_resolve": call(3, PLATFORM, pb_int(1, 1) + pb_bytes(2, "fp") +
                                pb_bytes(3, "ref") + pb_int(4, 1)) +
        call(4, AGENCY_B, pb_int(1, 1) + pb_int(2, 2) + pb_bytes(3, "no")) +
        call(3, PLATFORM, pb_int(1, 2) + pb_bytes(2, "fp")) +
        call(4, ADMIN, pb_int(1, 2) + pb_int(2, 1) + pb_bytes(3, "yes")),
        "retract_list": call(1, AGENCY_B, pb_int(1, 1) + pb_bytes(2, "oops")) +
        call(6, AGENCY_A, flt + pb_int(2, 1)) + call(7, ADMIN, flt) +
        call(5, AGENCY_A, pb_bytes(2, pb_bytes(1, "agency-b") +
                                   pb_bytes(2, "b-pdq"))),
    }


# ---- store keys ----


def store_key_seeds():
    return {
        "id8": struct.pack(">Q", 42),
        "mixed": struct.pack(">QQ", 1, 2**63) + bytes([0]) + bytes(range(64)) +
        b"\x08agency-a\x06ext-id\x08agency-a\x06ext-id",
        "collide": struct.pack(">QQ", 5, 5) + bytes([4]) + bytes(32) +
        b"\x03abc\x01d\x02ab\x02cd",
    }


def write(out_dir, target, seeds):
    d = os.path.join(out_dir, target)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "fuzz/corpus"))
    args = parser.parse_args()
    images = image_seeds()
    videos = video_seeds()
    write(args.out, "image_header", images)
    write(args.out, "image_decode", images)
    write(args.out, "video_decode", videos)
    write(args.out, "hashlist_csv", CSV_SEEDS)
    write(args.out, "hashlist_jsonl", JSONL_SEEDS)
    write(args.out, "hashlist_lossless", lossless_seeds())
    write(args.out, "vpdq", vpdq_seeds())
    write(args.out, "rcc", rcc_seeds())
    write(args.out, "page_token", page_token_seeds())
    write(args.out, "audit_record", audit_seeds())
    write(args.out, "store_keys", store_key_seeds())
    write(args.out, "match_service", match_seeds(images, videos))
    write(args.out, "ingest_service", ingest_seeds(images))
    total = sum(os.path.getsize(os.path.join(dp, f))
                for dp, _, fs in os.walk(args.out) for f in fs)
    print("wrote %s: %d bytes" % (args.out, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
