#!/usr/bin/env python3
"""s3check.py - look at the S3 server of plumb's tests (a helper for tests).

Reads the server and keys from the environment that `s3.sh start` prints:
PLUMB_TEST_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION (default us-east-1).  Path-style addressing, SigV4.

    s3check.py get BUCKET KEY OUT      download an object to file OUT ('-':
                                       stdout); prints {"bytes","etag","sha256"}
                                       (not for OUT '-')
    s3check.py head BUCKET KEY         {"size","etag","content_type",
                                       "last_modified","metadata","parts"}
    s3check.py uploads BUCKET          in-progress multipart uploads:
                                       [{"key","upload_id","initiated"}]
    s3check.py parts BUCKET KEY UPLOADID   parts of an upload (ListParts):
                                       [{"part","size","etag"}]
    s3check.py abort BUCKET KEY UPLOADID   AbortMultipartUpload
    s3check.py ls BUCKET [PREFIX]      objects: [{"key","size","etag"}]
    s3check.py put BUCKET KEY FILE     a single PutObject of FILE ('-': stdin)
    s3check.py mkbucket BUCKET         create a bucket (no error if it is
                                       already ours)
    s3check.py rm BUCKET KEY           delete an object
    s3check.py rmbucket BUCKET         delete every object and upload, then
                                       the bucket
    s3check.py probe [BUCKET]          check what the server enforces (see
                                       README.md); prints one line per check,
                                       exit 1 if a check fails
    s3check.py mpupload BUCKET KEY NPARTS PARTSIZE
                                       a multipart upload retrying each part up
                                       to 3 times (for tests through
                                       faultproxy.py); {"ok", "attempts", ...}

Output is JSON on stdout.  Errors: a message on stderr and exit status 1;
status 2 for a missing object or bucket (404) in get/head/rm.

Needs botocore: the machine's python3 may have it (pip), else Debian's
python3-botocore is used through /usr/bin/python3 (re-exec).
"""

import datetime
import hashlib
import json
import os
import sys

try:
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    # Debian's python3-botocore lives in /usr/lib/python3/dist-packages,
    # which only the system interpreter sees.
    system = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(system) and os.path.exists(system) \
            and not os.environ.get("S3CHECK_REEXEC"):
        os.environ["S3CHECK_REEXEC"] = "1"
        os.execv(system, [system] + sys.argv)
    sys.exit("s3check.py: botocore is missing: apt-get install python3-botocore")

PROG = "s3check.py"
MIB = 1024 * 1024


def fail(msg, status=1):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(status)


def env(name, default=None):
    v = os.environ.get(name, default)
    if v is None:
        fail(f"{name} is not set (eval the output of tests/services/s3.sh start DIR)")
    return v


def make_config(**extra):
    kw = dict(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1, "mode": "standard"},  # no retries
        connect_timeout=10,
        read_timeout=120,
    )
    kw.update(extra)
    # botocore >= 1.36 sends CRC32 checksums in aws-chunked trailers by
    # default, which radosgw (Ceph 16) does not understand: ask for checksums
    # only where an operation requires them.  Older botocore lacks the knobs.
    try:
        return Config(request_checksum_calculation="when_required",
                      response_checksum_validation="when_required", **kw)
    except TypeError:
        return Config(**kw)


def client(access_key=None, secret_key=None, **config):
    session = botocore.session.get_session()
    return session.create_client(
        "s3",
        endpoint_url=env("PLUMB_TEST_S3_ENDPOINT"),
        region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=access_key or env("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=secret_key or env("AWS_SECRET_ACCESS_KEY"),
        config=make_config(**config),
    )


def out(obj):
    json.dump(obj, sys.stdout, indent=None, sort_keys=True, default=str)
    sys.stdout.write("\n")


def status_of(e):
    return e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def code_of(e):
    return e.response.get("Error", {}).get("Code")


def call(what, fn, **kw):
    """Run one S3 call; on an error say which and exit (2 for a 404)."""
    try:
        return fn(**kw)
    except ClientError as e:
        st = status_of(e)
        code = code_of(e)
        msg = e.response.get("Error", {}).get("Message", "")
        detail = f"{st} {msg}" if code == str(st) else f"{st} {code}" + (f": {msg}" if msg else "")
        fail(f"{what}: {detail}", 2 if st == 404 else 1)
    except BotoCoreError as e:
        fail(f"{what}: {e}")


def iso(t):
    return t.isoformat() if isinstance(t, datetime.datetime) else t


def cmd_get(c, bucket, key, path):
    r = call(f"get {bucket}/{key}", c.get_object, Bucket=bucket, Key=key)
    body = r["Body"]
    h = hashlib.sha256()
    n = 0
    f = sys.stdout.buffer if path == "-" else open(path, "wb")
    try:
        while True:
            b = body.read(4 * MIB)
            if not b:
                break
            h.update(b)
            f.write(b)
            n += len(b)
    finally:
        if f is not sys.stdout.buffer:
            f.close()
    if path != "-":
        out({"bytes": n, "etag": r.get("ETag", "").strip('"'), "sha256": h.hexdigest()})


def cmd_head(c, bucket, key):
    r = call(f"head {bucket}/{key}", c.head_object, Bucket=bucket, Key=key)
    etag = r.get("ETag", "").strip('"')
    parts = None
    if "-" in etag:
        # The part count of a multipart object: HEAD with partNumber=1.
        try:
            p = c.head_object(Bucket=bucket, Key=key, PartNumber=1)
            parts = p.get("PartsCount")
        except ClientError:
            pass
    out({"size": r["ContentLength"], "etag": etag, "content_type": r.get("ContentType"),
         "last_modified": iso(r.get("LastModified")), "metadata": r.get("Metadata", {}),
         "parts": parts})


def list_uploads(c, bucket):
    res = []
    kw = {"Bucket": bucket}
    while True:
        r = call(f"uploads {bucket}", c.list_multipart_uploads, **kw)
        for u in r.get("Uploads", []):
            res.append({"key": u["Key"], "upload_id": u["UploadId"],
                        "initiated": iso(u.get("Initiated"))})
        if not r.get("IsTruncated"):
            return res
        kw["KeyMarker"] = r.get("NextKeyMarker")
        kw["UploadIdMarker"] = r.get("NextUploadIdMarker")


def cmd_uploads(c, bucket):
    out(list_uploads(c, bucket))


def cmd_parts(c, bucket, key, upload_id):
    res = []
    kw = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
    while True:
        r = call(f"parts {bucket}/{key}", c.list_parts, **kw)
        for p in r.get("Parts", []):
            res.append({"part": p["PartNumber"], "size": p["Size"],
                        "etag": p["ETag"].strip('"')})
        if not r.get("IsTruncated"):
            break
        kw["PartNumberMarker"] = r.get("NextPartNumberMarker")
    out(res)


def cmd_abort(c, bucket, key, upload_id):
    call(f"abort {bucket}/{key}", c.abort_multipart_upload, Bucket=bucket, Key=key,
         UploadId=upload_id)


def list_objects(c, bucket, prefix=""):
    res = []
    kw = {"Bucket": bucket, "Prefix": prefix}
    while True:
        r = call(f"ls {bucket}", c.list_objects_v2, **kw)
        for o in r.get("Contents", []):
            res.append({"key": o["Key"], "size": o["Size"], "etag": o["ETag"].strip('"')})
        if not r.get("IsTruncated"):
            return res
        kw["ContinuationToken"] = r["NextContinuationToken"]


def cmd_ls(c, bucket, prefix=""):
    out(list_objects(c, bucket, prefix))


def cmd_put(c, bucket, key, path):
    if path == "-":
        data = sys.stdin.buffer.read()
        r = call(f"put {bucket}/{key}", c.put_object, Bucket=bucket, Key=key, Body=data)
    else:
        with open(path, "rb") as f:
            r = call(f"put {bucket}/{key}", c.put_object, Bucket=bucket, Key=key, Body=f)
    out({"etag": r.get("ETag", "").strip('"')})


def cmd_mkbucket(c, bucket):
    try:
        c.create_bucket(Bucket=bucket)
    except ClientError as e:
        if code_of(e) != "BucketAlreadyOwnedByYou":
            fail(f"mkbucket {bucket}: {status_of(e)} {code_of(e)}")


def cmd_rm(c, bucket, key):
    call(f"rm {bucket}/{key}", c.delete_object, Bucket=bucket, Key=key)


def cmd_rmbucket(c, bucket):
    for u in list_uploads(c, bucket):
        c.abort_multipart_upload(Bucket=bucket, Key=u["key"], UploadId=u["upload_id"])
    for o in list_objects(c, bucket):
        c.delete_object(Bucket=bucket, Key=o["key"])
    call(f"rmbucket {bucket}", c.delete_bucket, Bucket=bucket)


def cmd_mpupload(c, bucket, key, nparts, part_size):
    """A multipart upload of NPARTS parts of PART_SIZE bytes (the last one
    half as big), each part retried up to 3 times: for tests through
    faultproxy.py.  The content is deterministic: part n is the byte
    (n mod 256) repeated.  Prints {"ok", "attempts": [[part, outcome]...],
    "etag" (from HEAD), "expected_etag", "size", "complete_etag"}."""
    nparts, part_size = int(nparts), int(part_size)
    attempts = []
    uid = call("mpupload create", c.create_multipart_upload, Bucket=bucket, Key=key)["UploadId"]
    etags, digests, size = [], [], 0
    try:
        for n in range(1, nparts + 1):
            data = bytes([n % 256]) * (part_size if n < nparts else max(part_size // 2, 1))
            for _ in range(3):
                try:
                    r = c.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=data)
                    attempts.append([n, "ok"])
                    etags.append(r["ETag"])
                    break
                except ClientError as e:
                    attempts.append([n, f"{status_of(e)} {code_of(e)}"])
                except BotoCoreError as e:
                    attempts.append([n, type(e).__name__])
            else:
                raise RuntimeError(f"part {n} failed 3 times")
            digests.append(hashlib.md5(data).digest())
            size += len(data)
        done = c.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    except (RuntimeError, ClientError, BotoCoreError) as e:
        try:
            c.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)
        except (ClientError, BotoCoreError):
            pass
        out({"ok": False, "attempts": attempts, "error": str(e)})
        return 1
    h = call("mpupload head", c.head_object, Bucket=bucket, Key=key)
    want = hashlib.md5(b"".join(digests)).hexdigest() + f"-{nparts}"
    etag = h["ETag"].strip('"')
    out({"ok": etag == want and h["ContentLength"] == size, "attempts": attempts, "etag": etag,
         "expected_etag": want, "size": h["ContentLength"],
         "complete_etag": done.get("ETag", "").strip('"')})
    return 0 if etag == want else 1


# ---------------------------------------------------------------- probe

def xml_code(body):
    """The <Code> of an S3 XML error body, or ''."""
    import re
    m = re.search(rb"<Code>(.*?)</Code>", body or b"")
    return m.group(1).decode() if m else ""


def raw_request(method, path, body=b"", payload_hash="", headers=None, chunked=False):
    """Send one request signed with SigV4 over http.client and return
    (status, headers, body).  payload_hash: the x-amz-content-sha256 value
    to sign ('' = the body's SHA-256, None = no such header)."""
    import http.client
    import urllib.parse
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    endpoint = urllib.parse.urlsplit(env("PLUMB_TEST_S3_ENDPOINT"))
    h = dict(headers or {})
    if payload_hash == "":
        payload_hash = hashlib.sha256(body).hexdigest()
    if payload_hash is not None:
        h["x-amz-content-sha256"] = payload_hash
    req = AWSRequest(method=method, url=env("PLUMB_TEST_S3_ENDPOINT") + path, data=body, headers=h)
    SigV4Auth(Credentials(env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")), "s3",
              os.environ.get("AWS_DEFAULT_REGION") or "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if "host" not in (k.lower() for k in req.headers.keys()):
            conn.putheader("Host", endpoint.netloc)  # what SigV4Auth signed
        for k, v in req.headers.items():
            conn.putheader(k, v)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        elif method in ("PUT", "POST"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if chunked:
            if body:
                conn.send(b"%x\r\n%s\r\n" % (len(body), body))
            conn.send(b"0\r\n\r\n")
        elif body:
            conn.send(body)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def cmd_probe(c, bucket="plumb-probe"):
    """Check, against the live server, the behaviour plumb's S3 client
    relies on.  Each check prints `ok|FAIL name: detail`."""
    import base64
    import urllib.request
    import urllib.error

    failures = 0

    def report(ok, name, detail=""):
        nonlocal failures
        failures += 0 if ok else 1
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)

    def note(name, detail):
        print(f"note {name}: {detail}", flush=True)

    def expect_error(name, fn, status, code, **kw):
        try:
            fn(**kw)
            report(False, name, "no error")
        except ClientError as e:
            report(status_of(e) == status and code_of(e) == code, name,
                   f"{status_of(e)} {code_of(e)}")

    endpoint = env("PLUMB_TEST_S3_ENDPOINT")
    cmd_mkbucket(c, bucket)

    # Anonymous request: an S3 XML error, not an HTML page or a hang.
    try:
        urllib.request.urlopen(f"{endpoint}/{bucket}?list-type=2", timeout=10)
        report(False, "anonymous list is refused", "answered 200")
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        report(e.code == 403 and "<Code>AccessDenied</Code>" in body,
               "anonymous list is refused", f"{e.code} {body[:80]!r}")

    # SigV4: a wrong secret key.
    bad = client(secret_key="wrong" + env("AWS_SECRET_ACCESS_KEY")[5:])
    expect_error("wrong secret -> 403 SignatureDoesNotMatch", bad.put_object, 403,
                 "SignatureDoesNotMatch", Bucket=bucket, Key="sig", Body=b"x")
    unknown = client(access_key="NOSUCHACCESSKEY00000")
    expect_error("unknown access key -> 403 InvalidAccessKeyId", unknown.put_object, 403,
                 "InvalidAccessKeyId", Bucket=bucket, Key="sig", Body=b"x")

    # Any region in the credential scope is accepted.
    for region in ("us-east-1", "eu-west-3", "plumb-nowhere"):
        s = botocore.session.get_session()
        rc = s.create_client("s3", endpoint_url=endpoint, region_name=region,
                             aws_access_key_id=env("AWS_ACCESS_KEY_ID"),
                             aws_secret_access_key=env("AWS_SECRET_ACCESS_KEY"),
                             config=make_config())
        try:
            rc.put_object(Bucket=bucket, Key=f"region-{region}", Body=b"r")
            report(True, f"SigV4 region {region} accepted", "")
        except ClientError as e:
            report(False, f"SigV4 region {region} accepted", f"{status_of(e)} {code_of(e)}")

    # Content-MD5: a wrong one is refused.
    wrong_md5 = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    expect_error("wrong Content-MD5 -> 400 BadDigest", c.put_object, 400, "BadDigest",
                 Bucket=bucket, Key="md5", Body=b"hello", ContentMD5=wrong_md5)
    right_md5 = base64.b64encode(hashlib.md5(b"hello").digest()).decode()
    r = c.put_object(Bucket=bucket, Key="md5", Body=b"hello", ContentMD5=right_md5)
    report(r["ETag"].strip('"') == hashlib.md5(b"hello").hexdigest(),
           "PutObject ETag is the MD5 of the body", r["ETag"])

    # Requests signed by hand (SigV4Auth signs the x-amz-content-sha256
    # header as given, as libcurl's CURLOPT_AWS_SIGV4 does).
    st, hd, body = raw_request("PUT", f"/{bucket}/sha", b"the body",
                               payload_hash=hashlib.sha256(b"not the body").hexdigest())
    report(st == 400 and b"XAmzContentSHA256Mismatch" in body,
           "signed x-amz-content-sha256 not matching the body -> 400 XAmzContentSHA256Mismatch",
           f"{st} {xml_code(body)}")
    st, hd, body = raw_request("PUT", f"/{bucket}/unsigned", b"body", payload_hash="UNSIGNED-PAYLOAD")
    report(st == 200, "x-amz-content-sha256: UNSIGNED-PAYLOAD accepted", f"{st} {xml_code(body)}")
    st, hd, body = raw_request("PUT", f"/{bucket}/nohash", b"body", payload_hash=None)
    note("no x-amz-content-sha256 header at all", f"{st} {xml_code(body)}")
    st, hd, body = raw_request("PUT", f"/{bucket}/chunked", b"chunked body", payload_hash="UNSIGNED-PAYLOAD",
                               chunked=True)
    note("PutObject with Transfer-Encoding: chunked (no Content-Length)", f"{st} {xml_code(body)}")
    st, hd, body = raw_request("PUT", f"/{bucket}/expect", b"e" * 100000, payload_hash="UNSIGNED-PAYLOAD",
                               headers={"Expect": "100-continue"})
    report(st == 200, "PutObject with Expect: 100-continue", f"{st} {xml_code(body)}")

    # Multipart upload.
    key = "mp/object"
    part1 = b"a" * (5 * MIB)
    part2 = b"b" * (5 * MIB + 1)
    part3 = b"c" * 1000
    up = c.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/csv")
    uid = up["UploadId"]
    report(bool(uid), "CreateMultipartUpload", uid)
    etags = []
    for n, data in ((1, part1), (2, part2), (3, part3)):
        r = c.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=data)
        etags.append(r["ETag"])
        report(r["ETag"].strip('"') == hashlib.md5(data).hexdigest(),
               f"UploadPart {n} ETag is its MD5", r["ETag"])
    # Re-uploading a part replaces it.
    r = c.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=3, Body=part3)
    report(r["ETag"] == etags[2], "UploadPart again replaces the part", r["ETag"])
    lp = c.list_parts(Bucket=bucket, Key=key, UploadId=uid)
    got = [(p["PartNumber"], p["Size"]) for p in lp.get("Parts", [])]
    report(got == [(1, len(part1)), (2, len(part2)), (3, len(part3))], "ListParts", str(got))
    lu = [u["UploadId"] for u in c.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    report(uid in lu, "ListMultipartUploads shows the upload", f"{len(lu)} upload(s)")

    # A wrong ETag in the completion list.
    expect_error("Complete with a wrong part ETag -> 400 InvalidPart",
                 c.complete_multipart_upload, 400, "InvalidPart",
                 Bucket=bucket, Key=key, UploadId=uid,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]})
    # Parts out of order: AWS says InvalidPartOrder, radosgw 16 InvalidPart.
    try:
        c.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": etags[1]},
                                       {"PartNumber": 1, "ETag": etags[0]}]})
        report(False, "Complete with parts out of order is refused", "accepted")
    except ClientError as e:
        report(status_of(e) == 400, "Complete with parts out of order is refused",
               f"{status_of(e)} {code_of(e)}")
    # A wrong Content-MD5 on a part.
    expect_error("UploadPart with a wrong Content-MD5 -> 400 BadDigest", c.upload_part, 400,
                 "BadDigest", Bucket=bucket, Key=key, UploadId=uid, PartNumber=9, Body=b"x",
                 ContentMD5=wrong_md5)

    done = c.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    want = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in (part1, part2, part3))).hexdigest() + "-3"
    # AWS answers the md5-of-md5s-N ETag here; radosgw 16 an empty <ETag/>.
    note("CompleteMultipartUpload reply ETag", repr(done.get("ETag")) +
         (" (md5-of-md5s-N)" if done.get("ETag", "").strip('"') == want else " (not md5-of-md5s-N)"))
    h = c.head_object(Bucket=bucket, Key=key)
    report(h["ETag"].strip('"') == want and h["ContentLength"] == len(part1) + len(part2) + len(part3),
           "HEAD after multipart: size and md5-of-md5s-N", f"{h['ContentLength']} {h['ETag']}")
    report(h.get("ContentType") == "text/csv", "Content-Type given at Create is kept",
           str(h.get("ContentType")))
    hp = c.head_object(Bucket=bucket, Key=key, PartNumber=1)
    note("HEAD ?partNumber=1 of a multipart object",
         f"{hp['ContentLength']} bytes, parts count {hp.get('PartsCount')}")
    got = c.get_object(Bucket=bucket, Key=key)["Body"].read()
    report(got == part1 + part2 + part3, "GET returns the parts joined", f"{len(got)} bytes")
    lu = [u["UploadId"] for u in c.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    report(uid not in lu, "a completed upload is no longer listed", f"{len(lu)} upload(s)")
    expect_error("UploadPart to a completed upload -> 404 NoSuchUpload", c.upload_part, 404,
                 "NoSuchUpload", Bucket=bucket, Key=key, UploadId=uid, PartNumber=4, Body=b"x")

    # A part smaller than 5 MiB that is not the last one.
    key2 = "mp/small"
    uid2 = c.create_multipart_upload(Bucket=bucket, Key=key2)["UploadId"]
    e1 = c.upload_part(Bucket=bucket, Key=key2, UploadId=uid2, PartNumber=1, Body=b"x" * 1024)["ETag"]
    e2 = c.upload_part(Bucket=bucket, Key=key2, UploadId=uid2, PartNumber=2, Body=b"y" * 1024)["ETag"]
    report(True, "UploadPart accepts a part < 5 MiB", "checked at Complete")
    expect_error("Complete with a non-last part < 5 MiB -> 400 EntityTooSmall",
                 c.complete_multipart_upload, 400, "EntityTooSmall",
                 Bucket=bucket, Key=key2, UploadId=uid2,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                            {"PartNumber": 2, "ETag": e2}]})
    # One small part only: fine (the last part may be small).
    uid3 = c.create_multipart_upload(Bucket=bucket, Key="mp/one")["UploadId"]
    e = c.upload_part(Bucket=bucket, Key="mp/one", UploadId=uid3, PartNumber=1, Body=b"z")["ETag"]
    try:
        c.complete_multipart_upload(Bucket=bucket, Key="mp/one", UploadId=uid3,
                                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
        report(True, "a single part of 1 byte completes", "")
    except ClientError as ex:
        report(False, "a single part of 1 byte completes", f"{status_of(ex)} {code_of(ex)}")
    # Complete with no parts.
    uid4 = c.create_multipart_upload(Bucket=bucket, Key="mp/none")["UploadId"]
    try:
        c.complete_multipart_upload(Bucket=bucket, Key="mp/none", UploadId=uid4,
                                    MultipartUpload={"Parts": []})
        report(False, "Complete with no parts is refused", "accepted")
    except ClientError as ex:
        report(status_of(ex) == 400, "Complete with no parts is refused",
               f"{status_of(ex)} {code_of(ex)}")
    # Part numbers outside 1..10000 (AWS: 400 InvalidArgument).
    for pn in (0, 10001):
        try:
            c.upload_part(Bucket=bucket, Key=key2, UploadId=uid2, PartNumber=pn, Body=b"p")
            note(f"UploadPart with partNumber={pn}", "accepted (not checked)")
        except ClientError as ex:
            note(f"UploadPart with partNumber={pn}", f"{status_of(ex)} {code_of(ex)}")
    # Abort.
    c.abort_multipart_upload(Bucket=bucket, Key=key2, UploadId=uid2)
    lu = [u["UploadId"] for u in c.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    report(uid2 not in lu, "AbortMultipartUpload removes the upload", f"{len(lu)} upload(s)")
    # AWS says NoSuchUpload; radosgw 16 NoSuchKey.
    try:
        c.list_parts(Bucket=bucket, Key=key2, UploadId=uid2)
        report(False, "ListParts of an aborted upload -> 404", "answered")
    except ClientError as e:
        report(status_of(e) == 404, "ListParts of an aborted upload -> 404",
               f"{status_of(e)} {code_of(e)}")
    expect_error("Abort of an unknown upload -> 404 NoSuchUpload", c.abort_multipart_upload,
                 404, "NoSuchUpload", Bucket=bucket, Key=key2, UploadId="2~nosuchupload")
    try:
        c.abort_multipart_upload(Bucket=bucket, Key="mp/none", UploadId=uid4)
    except ClientError:
        pass
    expect_error("a missing bucket -> 404 NoSuchBucket", c.put_object, 404, "NoSuchBucket",
                 Bucket="plumb-no-such-bucket", Key="k", Body=b"x")
    expect_error("a missing key -> 404 NoSuchKey", c.get_object, 404, "NoSuchKey",
                 Bucket=bucket, Key="no/such/key")

    cmd_rmbucket(c, bucket)
    print(f"{failures} failed", flush=True)
    return 1 if failures else 0


COMMANDS = {
    "get": (cmd_get, 3, 3),
    "head": (cmd_head, 2, 2),
    "uploads": (cmd_uploads, 1, 1),
    "parts": (cmd_parts, 3, 3),
    "abort": (cmd_abort, 3, 3),
    "ls": (cmd_ls, 1, 2),
    "put": (cmd_put, 3, 3),
    "mkbucket": (cmd_mkbucket, 1, 1),
    "rm": (cmd_rm, 2, 2),
    "rmbucket": (cmd_rmbucket, 1, 1),
    "probe": (cmd_probe, 0, 1),
    "mpupload": (cmd_mpupload, 4, 4),
}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    fn, lo, hi = COMMANDS[argv[1]]
    args = argv[2:]
    if not lo <= len(args) <= hi:
        fail(f"{argv[1]}: wrong number of arguments (see {PROG} without arguments)", 2)
    try:
        return fn(client(), *args) or 0
    except BotoCoreError as e:
        fail(f"{argv[1]}: {e}")
    except ClientError as e:
        fail(f"{argv[1]}: {status_of(e)} {code_of(e)}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
