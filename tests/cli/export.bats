#!/usr/bin/env bats
#
# export.bats - `plumb export` end to end: real SQLite files made here, the
# real PostgreSQL, HTTP sinks and S3 server of tests/services.
#
# Every output is checked against something that did not come from plumb:
# expected bytes written out below, Python's sqlite3 module, the sqlite3
# and psql commands, sha256sum, gzip and zstd, what the HTTP sink hashed,
# what S3 stores.  Failures are checked for their message, their exit status
# and for what they leave behind (no file, no temporary, no upload).
#
# Environment: PLUMB (the command), SERVICES (tests/services), and from the
# caller (scripts/check.sh, or scripts/services.sh start): PLUMB_TEST_PG_URI,
# PLUMB_TEST_S3_ENDPOINT, PLUMB_TEST_S3_BUCKET, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY.  A test that needs a server fails, naming the
# missing variable, when it is not set.

bats_require_minimum_version 1.5.0

PLUMB=${PLUMB:-plumb}
case "$PLUMB" in
*/*) PLUMB=$(cd "$(dirname "$PLUMB")" && pwd)/$(basename "$PLUMB") ;;
esac
SERVICES=${SERVICES:-$(cd "$BATS_TEST_DIRNAME/../services" && pwd)}

# A query of N generated rows (SQLite): an id, a float, a text with a quote
# and a comma.  About 43 bytes a row in NDJSON.
gen_rows() {
	echo "with recursive c(x) as (select 1 union all select x + 1 from c where x < $1)" \
		"select x as id, x * 0.5 as half, printf('row %d, \"q\"', x) as label from c"
}

setup_file() {
	export PY=$BATS_FILE_TMPDIR/py DB=$BATS_FILE_TMPDIR/every.db
	# advisory lock keys of this run (below 2^32, so pg_locks.objid is the key)
	export LOCKS=$((700000000 + ($$ % 1000000) * 100))
	mkdir -p "$PY"
	make_every_db "$DB"
	write_sqlcheck "$PY/sqlcheck.py"
	write_pgcheck "$PY/pgcheck.py"
}

setup() {
	T=$BATS_TEST_TMPDIR
	W=$T/w
	mkdir -p "$W"
	cd "$W" || return 1
}

teardown() {
	local p k
	if [ -f "$T/locks" ]; then
		while read -r k; do release_lock "$k"; done <"$T/locks"
	fi
	if [ -f "$T/pids" ]; then
		while read -r p; do kill "$p" 2>/dev/null || true; done <"$T/pids"
		while read -r p; do wait "$p" 2>/dev/null || true; done <"$T/pids"
	fi
	if [ -f "$T/s3keys" ]; then
		while read -r k; do
			s3c rm "$PLUMB_TEST_S3_BUCKET" "$k" >/dev/null 2>&1 || true
			leftover_uploads "$k" | while read -r id; do
				s3c abort "$PLUMB_TEST_S3_BUCKET" "$k" "$id" >/dev/null 2>&1 || true
			done
		done <"$T/s3keys"
	fi
}

# ---- Fixtures ----

# The SQLite table `every`: every storage class, NULLs, integer limits,
# floats that need an exponent, -0, infinities, a subnormal, text with
# quotes, commas, LF, CRLF, tab, backslashes, control characters, DEL,
# U+2028, non-ASCII, invalid UTF-8; blobs empty, with NUL, all high bytes.
# Column a has no declared type, so it keeps whatever is put in it.
make_every_db() {
	sqlite3 "$1" <<-'EOF'
		create table every (id integer primary key, i integer, r real, t text, b blob, a);
		insert into every values
		 (1, 0, 0.0, 'plain', x'', null),
		 (2, 9223372036854775807, 0.1, '', x'00', 1),
		 (3, -9223372036854775808, -1.5e-7, 'say "hi", ok', x'00ff41', 2.5),
		 (4, -1, 1e300, 'line1' || char(10) || 'line2' || char(13, 10) || 'end', x'deadbeef', 'text'),
		 (5, 42, 1.2345678901234568e20, 'back\slash \. tab' || char(9), zeroblob(4), x'0102'),
		 (6, null, null, null, null, null),
		 (7, 2, 9e999, 'é 日本 🎉', x'fffefd', -0.0),
		 (8, 3, -9e999, char(1, 127, 8232), x'000102030405060708090a0b0c0d0e0f', 'a,b'),
		 (9, 4, 5e-324, cast(x'41ff42' as text), null, 1e21),
		 (10, 5, 1e21, '\.', null, null),
		 (11, 6, 100.0, ' spaces ', null, '  ');
		create table "odd name, ""q""" (x integer, y text);
		insert into "odd name, ""q""" values (1, 'one'), (2, 'two');
		create table empty (x integer, y text);
		create table people (id integer primary key, name text, score real, note text);
		with recursive c(n) as (select 1 union all select n + 1 from c where n < 2000)
		insert into people
		 select n, printf('person %d %s', n, case n % 5 when 0 then 'O''Brien, "Bob"'
		   when 1 then 'Zoë' when 2 then 'line' || char(10) || 'break' when 3 then 'a\b'
		   else '日本' end),
		   n / 7.0, case when n % 3 = 0 then null when n % 3 = 1 then '' else 'x,y' end from c;
	EOF
}

# What plumb must write for `every`, byte for byte (see encode.h).
every_ndjson() {
	printf '%s\n' \
		'{"id":1,"i":0,"r":0,"t":"plain","b":"","a":null}' \
		'{"id":2,"i":9223372036854775807,"r":0.1,"t":"","b":"AA==","a":1}' \
		'{"id":3,"i":-9223372036854775808,"r":-1.5e-7,"t":"say \"hi\", ok","b":"AP9B","a":2.5}' \
		'{"id":4,"i":-1,"r":1e+300,"t":"line1\nline2\r\nend","b":"3q2+7w==","a":"text"}' \
		'{"id":5,"i":42,"r":123456789012345680000,"t":"back\\slash \\. tab\t","b":"AAAAAA==","a":"AQI="}' \
		'{"id":6,"i":null,"r":null,"t":null,"b":null,"a":null}' \
		'{"id":7,"i":2,"r":null,"t":"é 日本 🎉","b":"//79","a":-0}' \
		'{"id":8,"i":3,"r":null,"t":"\u0001'$'\x7f\xe2\x80\xa8''","b":"AAECAwQFBgcICQoLDA0ODw==","a":"a,b"}' \
		'{"id":9,"i":4,"r":5e-324,"t":"A'$'\xef\xbf\xbd''B","b":null,"a":1e+21}' \
		'{"id":10,"i":5,"r":1e+21,"t":"\\.","b":null,"a":null}' \
		'{"id":11,"i":6,"r":100,"t":" spaces ","b":null,"a":"  "}'
}

every_csv() {
	printf '%s\n' \
		'id,i,r,t,b,a' \
		'1,0,0,plain,"",' \
		'2,9223372036854775807,0.1,"",AA==,1' \
		'3,-9223372036854775808,-1.5e-7,"say ""hi"", ok",AP9B,2.5' \
		'4,-1,1e+300,"line1'$'\n''line2'$'\r\n''end",3q2+7w==,text' \
		'5,42,123456789012345680000,back\slash \. tab'$'\t'',AAAAAA==,AQI=' \
		'6,,,,,' \
		'7,2,Infinity,é 日本 🎉,//79,-0' \
		'8,3,-Infinity,'$'\x01\x7f\xe2\x80\xa8'',AAECAwQFBgcICQoLDA0ODw==,"a,b"' \
		'9,4,5e-324,A'$'\xff''B,,1e+21' \
		'10,5,1e+21,\.,,' \
		'11,6,100, spaces ,,  '
}

# sqlcheck.py DB QUERY FORMAT FILE [--no-header]: FILE holds, value for
# value, what Python's sqlite3 module reads for QUERY, in FORMAT as
# encode.h describes it (floats in JavaScript's shortest form).
write_sqlcheck() {
	cat >"$1" <<-'EOF'
		import base64, csv, decimal, io, json, math, sqlite3, sys
		db, query, fmt, path = sys.argv[1:5]
		header = "--no-header" not in sys.argv[5:]
		con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
		con.text_factory = bytes
		cur = con.execute(query)
		names = [d[0] for d in cur.description]
		rows = cur.fetchall()

		def js_number(x):
		    if x == 0:
		        return "-0" if math.copysign(1, x) < 0 else "0"
		    sign, digits, exp = decimal.Decimal(repr(x)).as_tuple()
		    ds = "".join(map(str, digits)).rstrip("0")
		    exp += len(digits) - len(ds)
		    k, n = len(ds), exp + len(ds)
		    s = "-" if sign else ""
		    if k <= n <= 21:
		        return s + ds + "0" * (n - k)
		    if 0 < n <= 21:
		        return s + ds[:n] + "." + ds[n:]
		    if -6 < n <= 0:
		        return s + "0." + "0" * -n + ds
		    e = n - 1
		    return s + ds[0] + ("." + ds[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))

		def number(v):
		    """A number as plumb writes it in JSON (as text), or None."""
		    if isinstance(v, int):
		        return str(v)
		    return None if math.isinf(v) or math.isnan(v) else js_number(v)

		def want_json(row):
		    out = {}
		    for name, v, kind in zip(names, row, kinds):
		        if v is None:
		            out[name] = None
		        elif kind == "blob":
		            out[name] = base64.b64encode(v).decode()
		        elif kind == "text":
		            out[name] = v.decode("utf-8", "replace")
		        else:
		            out[name] = number(v)
		    return out

		def want_csv(row):
		    out = []
		    for v, kind in zip(row, kinds):
		        if v is None:
		            out.append("")
		        elif isinstance(v, float) and math.isinf(v):
		            out.append("Infinity" if v > 0 else "-Infinity")
		        elif isinstance(v, (int, float)):
		            out.append(number(v))
		        elif kind == "blob":
		            out.append(base64.b64encode(v).decode())
		        else:
		            out.append(v.decode("utf-8", "surrogateescape"))
		    return out

		# text or blob: ask SQLite, since text_factory=bytes makes both bytes
		kinds_of = [[t.decode() for t in r] for r in con.execute(
		    "select " + ", ".join(f"typeof(\"{n}\")" for n in names) + f" from ({query})")]
		keep = dict(parse_float=str, parse_int=str, parse_constant=str)
		data = open(path, "rb").read()
		if fmt == "csv":
		    got = list(csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"), newline="")))
		    if header:
		        assert got[:1] == [names], f"header {got[:1]} != {names}"
		        got = got[1:]
		    assert len(got) == len(rows), f"{len(got)} rows, sqlite3 {len(rows)}"
		    for i, (g, r) in enumerate(zip(got, rows)):
		        kinds = kinds_of[i]
		        assert g == want_csv(r), f"row {i + 1}: {g!r} != {want_csv(r)!r}"
		else:
		    text = data.decode("utf-8")
		    if fmt == "json":
		        got = json.loads(text, **keep)
		    else:
		        got = [json.loads(l, **keep) for l in text.split("\n")[:-1]]
		        assert text == "" or text.endswith("\n")
		    assert len(got) == len(rows), f"{len(got)} rows, sqlite3 {len(rows)}"
		    for i, (g, r) in enumerate(zip(got, rows)):
		        kinds = kinds_of[i]
		        assert list(g) == names, f"row {i + 1}: keys {list(g)}"
		        assert g == want_json(r), f"row {i + 1}: {g!r} != {want_json(r)!r}"
		print(f"{len(rows)} rows equal")
	EOF
}

# pgcheck.py TABLE FILE [--numeric-as-number]: the NDJSON plumb wrote for
# `select * from TABLE order by id` holds, value by value, what psql's
# row_to_json says, under the documented differences: timestamptz in UTC
# with Z, BC years as ISO 8601 years (1 BC = 0000, signed), timetz offsets
# as +HH:MM, intervals in iso_8601 style, numeric as a string (a bare
# number with --numeric-as-number, NaN and infinities then null), float
# NaN and infinities null, floats in the shortest JavaScript form, bytea
# base64, oid a number, composites as their text.
write_pgcheck() {
	cat >"$1" <<-'EOF'
		import base64, decimal, json, os, re, subprocess, sys
		table, path = sys.argv[1], sys.argv[2]
		numbers = "--numeric-as-number" in sys.argv[3:]
		INTS = {"int2", "int4", "int8", "oid", "xid"}
		FLOATS = {"float4", "float8"}

		def psql(sql):
		    out = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", os.environ["PLUMB_TEST_PG_URI"],
		                          "-c", "set intervalstyle = iso_8601", "-c", sql],
		                         check=True, capture_output=True).stdout.decode()
		    return [l for l in out.split("\n") if l]

		def ident(name):
		    return '"' + name.replace('"', '""') + '"'

		cols = [json.loads(l) for l in psql(
		    "select json_build_array(a.attname, bt.typname, coalesce(et.typname, ''), bt.typtype = 'c')"
		    " from pg_attribute a join pg_type t on t.oid = a.atttypid"
		    " join pg_type bt on bt.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end"
		    " left join pg_type et on et.oid = bt.typelem and bt.typcategory = 'A'"
		    f" where a.attrelid = '{table}'::regclass and a.attnum > 0 and not a.attisdropped"
		    " order by a.attnum")]
		sel = ", ".join(f"{ident(n)}::text as {ident(n)}" if comp else ident(n) for n, _, _, comp in cols)
		keep = dict(parse_float=str, parse_int=str, parse_constant=str)
		# as hex: psql's printing drops some characters (U+10FFFF)
		want = [json.loads(bytes.fromhex(l).decode(), **keep) for l in psql(
		    "select encode(convert_to(row_to_json(x)::text, 'UTF8'), 'hex')"
		    f" from (select {sel} from {ident(table)} order by id) x")]
		got = [json.loads(l, **keep) for l in open(path, encoding="utf-8", newline="\n")]

		def js_number(text):
		    d = decimal.Decimal(text)
		    if d == 0:
		        return "-0" if text.startswith("-") else "0"
		    sign, digits, exp = d.as_tuple()
		    ds = "".join(map(str, digits)).rstrip("0")
		    exp += len(digits) - len(ds)
		    k, n = len(ds), exp + len(ds)
		    s = "-" if sign else ""
		    if k <= n <= 21:
		        return s + ds + "0" * (n - k)
		    if 0 < n <= 21:
		        return s + ds[:n] + "." + ds[n:]
		    if -6 < n <= 0:
		        return s + "0." + "0" * -n + ds
		    e = n - 1
		    return s + ds[0] + ("." + ds[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))

		def iso_year(y, bc):
		    y = 1 - y if bc else y
		    if y < 0:
		        return "-%04d" % -y
		    return ("+%04d" if y > 9999 else "%04d") % y

		def datetime_text(v, kind):
		    if v in ("infinity", "-infinity"):
		        return v
		    bc = v.endswith(" BC")
		    v = v[:-3] if bc else v
		    m = re.match(r"(\d+)(-.*)", v)
		    v = iso_year(int(m.group(1)), bc) + m.group(2)
		    return re.sub(r"\+00(:00)?$", "Z", v) if kind == "timestamptz" else v

		def expect(v, base):
		    if v is None:
		        return None
		    if base in INTS:
		        return ("int", int(v))
		    if base in FLOATS:
		        return None if v in ("NaN", "Infinity", "-Infinity") else ("raw", js_number(v))
		    if base == "numeric":
		        if numbers:
		            return None if v in ("NaN", "Infinity", "-Infinity") else ("raw", v)
		        return v
		    if base == "bytea":
		        return base64.b64encode(bytes.fromhex(v[2:])).decode()
		    if base in ("date", "timestamp", "timestamptz"):
		        return datetime_text(v, base)
		    if base == "timetz":
		        m = re.match(r"(.*)([+-]\d\d)(:\d\d)?$", v)
		        return m.group(1) + m.group(2) + (m.group(3) or ":00")
		    return v

		def same(g, w, base, elem, where):
		    if elem:
		        ok = g is None if w is None else isinstance(g, list) and len(g) == len(w) and all(
		            same(a, b, base, elem, where) if isinstance(b, list) else same(a, b, elem, "", where)
		            for a, b in zip(g, w))
		        if not ok:
		            raise SystemExit(f"{where}: got {g!r}, want {w!r}")
		        return True
		    e = expect(w, base)
		    if isinstance(e, tuple) and e[0] == "int":
		        ok = isinstance(g, str) and re.fullmatch(r"-?\d+", g) is not None and int(g) == e[1]
		    elif isinstance(e, tuple):
		        ok = g == e[1]
		    else:
		        ok = g == e
		    if not ok:
		        raise SystemExit(f"{where}: got {g!r}, want {e!r} (psql: {w!r}, {base})")
		    return True

		if len(got) != len(want):
		    raise SystemExit(f"{table}: {len(got)} rows, psql {len(want)}")
		names = [c[0] for c in cols]
		for i, (g, w) in enumerate(zip(got, want)):
		    if list(g) != names:
		        raise SystemExit(f"{table} row {i + 1}: keys {list(g)}, want {names}")
		    for name, base, elem, comp in cols:
		        same(g[name], w[name], base, elem, f"{table} row {i + 1} column {name}")
		print(f"{table}: {len(got)} rows equal")
	EOF
}

# ---- Helpers ----

need_pg() {
	if [ -z "${PLUMB_TEST_PG_URI:-}" ]; then
		echo "PLUMB_TEST_PG_URI is not set: this test needs the PostgreSQL of tests/services" \
			"(scripts/check.sh starts it; or: out=\$(scripts/services.sh start DIR) && eval \"\$out\")" >&2
		return 1
	fi
}

need_s3() {
	local v
	for v in PLUMB_TEST_S3_ENDPOINT PLUMB_TEST_S3_BUCKET AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
		if [ -z "${!v:-}" ]; then
			echo "$v is not set: this test needs the S3 server of tests/services" \
				"(scripts/check.sh starts it; or: out=\$(scripts/services.sh start DIR) && eval \"\$out\")" >&2
			return 1
		fi
	done
}

# px ARGS...: plumb export ARGS..., stdout in $T/out, stderr in $T/err, the
# exit status in $st.
px() {
	st=0
	"$PLUMB" export "$@" >"$T/out" 2>"$T/err" || st=$?
}

status_is() {
	if [ "$st" -ne "$1" ]; then
		echo "exit status $st, want $1; stderr:"
		cat "$T/err"
		return 1
	fi
}

# err_has ERE: the stderr of the last px matches ERE.
err_has() {
	if ! grep -Eq -- "$1" "$T/err"; then
		echo "stderr does not match /$1/:"
		cat "$T/err"
		return 1
	fi
}

no_stdout() {
	if [ -s "$T/out" ]; then
		echo "unexpected stdout:"
		head -c 500 "$T/out"
		return 1
	fi
}

# fails_cleanly STATUS ERE ARGS...: plumb export ARGS... exits STATUS,
# writes nothing on stdout, says something matching ERE, and the work
# folder is as it was.
fails_cleanly() {
	local want=$1 ere=$2 before
	shift 2
	before=$(ls -A "$W" | tr '\n' ' ')
	px "$@"
	status_is "$want"
	no_stdout
	err_has "$ere"
	if [ "$(ls -A "$W" | tr '\n' ' ')" != "$before" ]; then
		echo "the folder changed: [$before] -> [$(ls -A "$W" | tr '\n' ' ')]"
		return 1
	fi
}

# dir_is NAME...: the work folder holds exactly these names.
dir_is() {
	local got want
	got=$(ls -A "$W" | sort | tr '\n' ' ')
	want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ')
	if [ "$got" != "$want" ]; then
		echo "folder holds [$got], want [$want]"
		return 1
	fi
}

sha() { sha256sum <"$1" | cut -d' ' -f1; }

# summary_is FILE ROWS: the stderr summary counts ROWS rows and FILE's size
# in bytes, gives FILE's SHA-256 and a peak memory line.
summary_is() {
	local bytes
	bytes=$(stat -c %s "$1")
	if ! grep -Eq "^plumb export: $2 rows, $bytes bytes \(" "$T/err" ||
		! grep -qx "  sha256 $(sha "$1")" "$T/err" ||
		! grep -Eq '^  peak memory [0-9]+\.[0-9] MiB$' "$T/err"; then
		echo "summary does not say $2 rows, $bytes bytes, sha256 $(sha "$1"):"
		cat "$T/err"
		return 1
	fi
}

# json_summary_is JSON ROWS FILE [KEY=VALUE...]: the --summary-json file is
# valid JSON with ok, rows, bytes and sha256 of FILE, and the given keys.
json_summary_is() {
	python3 - "$@" <<-'EOF'
		import hashlib, json, os, sys
		s = json.load(open(sys.argv[1]))
		data = open(sys.argv[3], "rb").read()
		want = {"ok": True, "rows": int(sys.argv[2]), "bytes": len(data),
		        "sha256": hashlib.sha256(data).hexdigest()}
		for kv in sys.argv[4:]:
		    k, v = kv.split("=", 1)
		    want[k] = json.loads(v)
		bad = {k: (s.get(k), v) for k, v in want.items() if s.get(k) != v}
		assert not bad, f"summary {s}: (got, want) {bad}"
		assert 0 < s["peak_rss_bytes"] and s["seconds"] >= 0, s
	EOF
}

# wait_until SECONDS COMMAND...: retries COMMAND every 0.1 s until it
# succeeds; fails after SECONDS.
wait_until() {
	local n=$(($1 * 10))
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		if [ "$n" -le 0 ]; then
			echo "timed out waiting for: $*"
			return 1
		fi
		sleep 0.1
	done
}

# bg COMMAND...: runs COMMAND in the background (output to $T/bg.log);
# teardown stops it.
bg() {
	"$@" >>"$T/bg.log" 2>&1 3>&- &
	echo $! >>"$T/pids"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_sink: an httpsink.py on a free port; $SINK is its URL.
start_sink() {
	bg python3 "$SERVICES/httpsink.py" --port-file "$T/sink.port"
	wait_until 30 test -s "$T/sink.port"
	SINK=http://127.0.0.1:$(cat "$T/sink.port")
}

# sink_last KEY: KEY of the last request the sink saw (JSON).
sink_last() {
	sink_info | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["last"][-1][sys.argv[1]]))' "$1"
}

# sink_info: what the sink says about itself (JSON).  (Over HTTPS, read with
# curl -k: the sink may hold a certificate made to fail; plumb checks it.)
sink_info() { curl -sfk "$SINK/"; }

# sink_field KEY: KEY of sink_info.
sink_field() {
	sink_info | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)[sys.argv[1]]))' "$1"
}

# start_tls_sink [CERT]: throwaway TLS material in $T/tls (tlscerts.sh: ca.pem
# and the others), and an httpsink.py speaking HTTPS with CERT (default
# server, for 127.0.0.1) on a free port; $SINK is its https:// URL.
start_tls_sink() {
	local cert=${1:-server}
	mkdir -p "$T/tls"
	[ -s "$T/tls/ca.pem" ] || "$SERVICES/tlscerts.sh" "$T/tls"
	rm -f "$T/sink.port"
	bg python3 "$SERVICES/httpsink.py" --port-file "$T/sink.port" \
		--tls-cert "$T/tls/$cert.pem" --tls-key "$T/tls/$cert.key"
	wait_until 30 test -s "$T/sink.port"
	SINK=https://127.0.0.1:$(cat "$T/sink.port")
}

# sink_last_is KEY JSON: the sink's last request has KEY equal to JSON.
sink_last_is() { [ "$(sink_last "$1")" = "$2" ]; }

# start_proxy RULE...: faultproxy.py in front of S3 with --fault RULEs; $PROXY
# is its URL.
start_proxy() {
	local a=() r
	for r in "$@"; do a+=(--fault "$r"); done
	bg python3 "$SERVICES/faultproxy.py" --upstream "$PLUMB_TEST_S3_ENDPOINT" \
		--port-file "$T/proxy.port" "${a[@]}"
	wait_until 30 test -s "$T/proxy.port"
	PROXY=http://127.0.0.1:$(cat "$T/proxy.port")
}

# proxy_count KIND FIELD: the proxy's counter FIELD (seen, faulted...) for KIND.
proxy_count() {
	curl -sf "$PROXY/__stats" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["kinds"].get(sys.argv[1], {}).get(sys.argv[2], 0))' "$1" "$2"
}

proxy_saw() { [ "$(proxy_count "$1" seen)" -ge "$2" ]; }

s3c() { python3 "$SERVICES/s3check.py" "$@"; }

# parts_of FILE: how many 5 MiB parts FILE makes.
parts_of() { echo $((($(stat -c %s "$1") + (5 << 20) - 1) / (5 << 20))); }

# s3key NAME: a key of its own for this test run, removed in teardown.
s3key() {
	local k
	k="plumb-export-bats/$(date +%s%N)-$BATS_TEST_NUMBER/$1"
	echo "$k" >>"$T/s3keys"
	echo "$k"
}

# leftover_uploads KEY: the ids of multipart uploads in progress for KEY.
leftover_uploads() {
	s3c uploads "$PLUMB_TEST_S3_BUCKET" |
		python3 -c 'import json, sys; [print(u["upload_id"]) for u in json.load(sys.stdin) if u["key"] == sys.argv[1]]' "$1"
}

# no_object KEY: KEY is not in the bucket and no upload for it is left.
no_object() {
	local rc=0 ids
	s3c head "$PLUMB_TEST_S3_BUCKET" "$1" >/dev/null 2>&1 || rc=$?
	if [ "$rc" -ne 2 ]; then
		echo "s3check head $1: exit $rc, want 2 (404)"
		return 1
	fi
	ids=$(leftover_uploads "$1")
	if [ -n "$ids" ]; then
		echo "uploads left for $1: $ids"
		return 1
	fi
}

# s3_object_is KEY FILE: the object KEY holds exactly FILE's bytes.
s3_object_is() {
	s3c get "$PLUMB_TEST_S3_BUCKET" "$1" "$T/got.s3" >/dev/null
	if ! cmp "$2" "$T/got.s3"; then
		echo "object $1 differs from $2"
		return 1
	fi
}

pg() { psql -XAtq -v ON_ERROR_STOP=1 -d "$PLUMB_TEST_PG_URI" "$@"; }

# hold_lock KEY: a PostgreSQL session takes advisory lock KEY and keeps it
# until release_lock KEY (or teardown).
hold_lock() {
	echo "$1" >>"$T/locks"
	PGAPPNAME=plumb-bats-lock-$1 bg psql -Xq -d "$PLUMB_TEST_PG_URI" \
		-c "select pg_advisory_lock($1)" -c "select pg_sleep(600)"
	wait_until 30 lock_is "$1" granted
}

release_lock() {
	pg -c "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'plumb-bats-lock-$1'" >/dev/null
}

# lock_is KEY granted|waiting: some session holds / waits for lock KEY.
lock_is() {
	local g=true
	[ "$2" = granted ] || g=false
	[ "$(pg -c "select count(*) from pg_locks where locktype = 'advisory' and objid = $1 and granted = $g")" -ge 1 ]
}

# A PostgreSQL query of 40,000 rows (about 5 MB of NDJSON) that stops at row
# 20,000 until advisory lock KEY is free.
blocking_query() {
	echo "select g, repeat('x', 100) as pad," \
		"case when g = 20000 then length(pg_advisory_lock($1)::text) end as l" \
		"from generate_series(1, 40000) g"
}

# reap PID: waits for the background PID (at most 60 s, then kills it and
# fails) and sets $st to its exit status.
reap() {
	local n=600
	while kill -0 "$1" 2>/dev/null && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1"
		echo "process $1 did not end within 60 s"
		return 1
	fi
	st=0
	wait "$1" || st=$?
}

not() { ! "$@"; }

size_at_least() { [ -f "$1" ] && [ "$(stat -c %s "$1")" -ge "$2" ]; }

# temp_of NAME: the temporary file of an export to NAME in the work folder.
temp_of() { compgen -G "$W/.$1.plumb-*"; }

# ---- SQLite to standard output ----

@test "sqlite: NDJSON of every type is byte for byte what encode.h promises" {
	every_ndjson >"$T/want"
	px "$DB" 'select * from every order by id'
	status_is 0
	cmp "$T/want" "$T/out"
	python3 "$PY/sqlcheck.py" "$DB" 'select * from every order by id' ndjson "$T/out"
}

@test "sqlite: CSV of every type is byte for byte what encode.h promises" {
	every_csv >"$T/want"
	px "$DB" 'select * from every order by id' -f csv
	status_is 0
	cmp "$T/want" "$T/out"
	python3 "$PY/sqlcheck.py" "$DB" 'select * from every order by id' csv "$T/out"
}

@test "sqlite: JSON is one array of the NDJSON objects" {
	px "$DB" 'select * from every order by id' --format json
	status_is 0
	every_ndjson | python3 -c 'import sys; l = sys.stdin.read().split("\n")[:-1]; sys.stdout.write("[" + ",\n".join(l) + "]\n")' >"$T/want"
	cmp "$T/want" "$T/out"
	python3 "$PY/sqlcheck.py" "$DB" 'select * from every order by id' json "$T/out"
}

@test "sqlite: values equal sqlite3 -json and sqlite3 -csv, read by python" {
	local q='select * from people order by id'
	px "$DB" "$q"
	status_is 0
	sqlite3 -json "$DB" "$q" >"$T/sqlite.json"
	python3 - "$T/sqlite.json" "$T/out" <<-'EOF'
		import json, sys
		want = json.load(open(sys.argv[1]))
		got = [json.loads(l) for l in open(sys.argv[2])]
		assert len(got) == len(want) == 2000, (len(got), len(want))
		for g, w in zip(got, want):
		    assert list(g) == list(w) and g == w, (g, w)  # floats compared as values
	EOF
	px "$DB" "$q" -f csv
	status_is 0
	sqlite3 -csv -header "$DB" "$q" >"$T/sqlite.csv"
	python3 - "$T/sqlite.csv" "$T/out" <<-'EOF'
		import csv, sys
		want = list(csv.reader(open(sys.argv[1], newline="")))
		got = list(csv.reader(open(sys.argv[2], newline="")))
		assert got[0] == want[0] == ["id", "name", "score", "note"], (got[0], want[0])
		assert len(got) == len(want) == 2001
		for g, w in zip(got[1:], want[1:]):
		    # sqlite3 prints %.15g; plumb the shortest exact form: same value
		    assert g[:2] == w[:2] and g[3] == w[3], (g, w)
		    assert abs(float(g[2]) - float(w[2])) <= 1e-12 * abs(float(w[2])), (g, w)
	EOF
	python3 "$PY/sqlcheck.py" "$DB" "$q" csv "$T/out"
}

@test "sqlite: --table gives what SELECT * gives, for odd names and schema.name" {
	px "$DB" --table every
	status_is 0
	every_ndjson | cmp - "$T/out"
	px "$DB" -t main.every -f csv
	status_is 0
	every_csv | cmp - "$T/out"
	px "$DB" --table 'odd name, "q"'
	status_is 0
	printf '%s\n' '{"x":1,"y":"one"}' '{"x":2,"y":"two"}' | cmp - "$T/out"
	fails_cleanly 1 'no such table' "$DB" --table nosuch
}

@test "sqlite: --no-header drops the CSV header only; a lone \\. is quoted" {
	px "$DB" 'select * from every order by id' -f csv --no-header
	status_is 0
	every_csv | tail -n +2 | cmp - "$T/out"
	px "$DB" "select '\\.' as x union all select 'y'" -f csv
	status_is 0
	printf 'x\n"\\."\ny\n' | cmp - "$T/out"
}

@test "sqlite: no rows: NDJSON nothing, JSON [], CSV the header" {
	px "$DB" --table empty
	status_is 0
	no_stdout
	err_has '^plumb export: 0 rows, 0 bytes'
	px "$DB" --table empty -f json
	printf '[]\n' | cmp - "$T/out"
	px "$DB" --table empty -f csv
	printf 'x,y\n' | cmp - "$T/out"
}

@test "sqlite: the summary gives rows, bytes, sha256sum of stdout and peak memory; --quiet none" {
	px "$DB" --table people
	status_is 0
	summary_is "$T/out" 2000
	err_has '^plumb export: 2000 rows, [0-9]+ bytes \([^)]*\) to stdout in [0-9.]+ s'
	[ "$(wc -l <"$T/err")" -eq 3 ]
	cp "$T/out" "$T/first"
	px "$DB" --table people --quiet
	status_is 0
	[ ! -s "$T/err" ]
	cmp "$T/first" "$T/out"
	px "$DB" --table people -q --summary-json "$T/s.json"
	status_is 0
	[ ! -s "$T/err" ]
	json_summary_is "$T/s.json" 2000 "$T/out" kind='"stdout"' destination='"-"'
}

@test "sqlite: --summary-json in a missing folder stops the export before it starts" {
	fails_cleanly 1 'nodir/s.json: No such file or directory' "$DB" --table every -o out.ndjson \
		--summary-json nodir/s.json
}

@test "sqlite: --summary-json of a failure says ok false and the error" {
	px "$DB" "with recursive c(x) as (select 1 union all select x + 1 from c where x < 5000)
		select x, case when x = 3000 then abs(-9223372036854775808) end from c" \
		--summary-json "$T/s.json" -o out.json
	status_is 1
	python3 - "$T/s.json" <<-'EOF'
		import json, sys
		s = json.load(open(sys.argv[1]))
		assert s["ok"] is False and "integer overflow" in s["error"] and s["sha256"] == "", s
	EOF
}

# ---- The progress line ----

# on_tty FILE ARGS...: plumb export ARGS... with its standard streams on a
# pseudo-terminal (util-linux's script), what the terminal got in FILE; sets
# $st to the exit status.
on_tty() {
	local out=$1 cmd q
	shift
	cmd=$(printf '%q ' "$PLUMB" export "$@")
	st=0
	script -q -e -c "$cmd" /dev/null </dev/null >"$out" 2>&1 || st=$?
}

# progress_check FILE ROWS BYTES PCT: the progress lines of the terminal
# output FILE are well formed and never go back; the last says ROWS rows,
# BYTES bytes (as the summary writes them: "12.3 KiB") and PCT ("100%",
# "~100%", or "none" for lines without a percentage).  The summary comes
# after the progress line was wiped.
progress_check() {
	python3 - "$@" <<-'EOF'
		import re, sys
		text = open(sys.argv[1], "rb").read().decode()
		rows, size, pct = int(sys.argv[2]), sys.argv[3], sys.argv[4]
		line = re.compile(r"\x1b\[K +(\d+) rows +([\d.]+ [KMGT]?i?B) +([\d.]+ [KMGT]?i?B)/s(?:  (~?)(\d+)%)?$")
		pieces = re.split(r"[\r\n]+", text)
		seen = [m for m in map(line.match, pieces) if m]
		assert seen, f"no progress line in {text!r}"
		counts = [int(m.group(1)) for m in seen]
		assert counts == sorted(counts), f"the row count went back: {counts}"
		if pct == "none":
		    assert all(m.group(5) is None for m in seen), f"a percentage without a total: {text!r}"
		else:
		    pcts = [int(m.group(5)) for m in seen]
		    assert pcts == sorted(pcts), f"the percentage went back: {pcts}"
		last = seen[-1]
		got = (int(last.group(1)), last.group(2), "none" if last.group(5) is None
		       else f"{last.group(4)}{last.group(5)}%")
		assert got == (rows, size, pct), f"last progress line {last.group(0)!r}: {got} != {(rows, size, pct)}"
		# wiped, then the summary on a line of its own
		after = text[text.rindex(last.group(0)) + len(last.group(0)):]
		assert re.match(r"\r\x1b\[K(\r?\n)?plumb export: %d rows, " % rows, after), f"after the line: {after[:200]!r}"
	EOF
}

# human BYTES: the size as the summary and the progress line write it.
human() {
	python3 -c '
import sys
n, units, i = float(sys.argv[1]), ["B", "KiB", "MiB", "GiB", "TiB"], 0
while n >= 1024 and i + 1 < len(units):
    n /= 1024
    i += 1
print(f"{n:.0f} B" if i == 0 else f"{n:.1f} {units[i]}")' "$1"
}

@test "progress: on a terminal, a --table export shows a percentage that ends at 100% with the rows and bytes" {
	local big=$T/big.db
	sqlite3 "$big" "create table t (id integer primary key, pad text);
		with recursive c(x) as (select 1 union all select x + 1 from c where x < 300000)
		insert into t select x, printf('%040d', x) from c;"
	on_tty "$T/tty" "$big" --table t -o out.ndjson
	status_is 0
	[ "$(wc -l <out.ndjson)" -eq 300000 ]
	progress_check "$T/tty" 300000 "$(human "$(stat -c %s out.ndjson)")" 100%
	# the summary below it has the same rows and bytes
	grep -Eq "plumb export: 300000 rows, $(stat -c %s out.ndjson) bytes \($(human "$(stat -c %s out.ndjson)")\) to out.ndjson" "$T/tty"
	# a small table too: the line is drawn at the end however short the export
	on_tty "$T/tty2" "$DB" --table people -o people.ndjson
	status_is 0
	progress_check "$T/tty2" 2000 "$(human "$(stat -c %s people.ndjson)")" 100%
}

@test "progress: a query has no known total: the line has no percentage; --quiet and --no-progress draw none" {
	on_tty "$T/tty" "$DB" "$(gen_rows 50000)" -o q.ndjson
	status_is 0
	progress_check "$T/tty" 50000 "$(human "$(stat -c %s q.ndjson)")" none
	local f
	for f in --quiet --no-progress; do
		on_tty "$T/tty.$f" "$DB" --table people -o "p$f.ndjson" "$f"
		status_is 0
		if grep -q ' rows  ' "$T/tty.$f"; then
			echo "$f: a progress line was drawn:"
			cat -v "$T/tty.$f"
			return 1
		fi
	done
}

@test "progress: PostgreSQL --table with --progress off a terminal: the estimate ends at 100% too" {
	need_pg
	px "$PLUMB_TEST_PG_URI" --table people -o people.ndjson --progress
	status_is 0
	progress_check "$T/err" 10000 "$(human "$(stat -c %s people.ndjson)")" 100%
}

# ---- Files ----

@test "file: written whole, mode 0666 & ~umask, same bytes as stdout" {
	px "$DB" --table people
	cp "$T/out" "$T/stdout"
	(umask 027 && "$PLUMB" export "$DB" --table people -o out.ndjson 2>"$T/err")
	cmp "$T/stdout" out.ndjson
	[ "$(stat -c %a out.ndjson)" = 640 ]
	summary_is out.ndjson 2000
	(umask 002 && "$PLUMB" export "$DB" --table people --to sub.ndjson -q)
	[ "$(stat -c %a sub.ndjson)" = 664 ]
	dir_is out.ndjson sub.ndjson
}

@test "file: fsynced under a temporary name, renamed into place, folder fsynced" {
	command -v strace >/dev/null || {
		echo "strace is not installed (scripts/deps.sh check)"
		return 1
	}
	# (LeakSanitizer cannot run under ptrace: off for this run of an ASan build)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -o "$T/trace" -e trace=openat,fsync,fdatasync,rename,renameat,renameat2 \
		"$PLUMB" export "$DB" --table people -o out.ndjson -q
	python3 - "$T/trace" "$W" <<-'EOF'
		import re, sys
		lines = open(sys.argv[1]).read().splitlines()
		tmp = fd = None
		seen = []
		for l in lines:
		    m = re.search(r'openat\(AT_FDCWD, "([^"]*\.out\.ndjson\.plumb-[^"]*)", [^)]*O_EXCL[^)]*\) = (\d+)', l)
		    if m:
		        tmp, fd = m.group(1), m.group(2)
		        seen.append("open-tmp")
		    elif "open-dir" in seen and re.search(r'fsync\(\d+', l):
		        seen.append("fsync-dir")
		    elif fd and re.search(rf'fsync\({fd}\)\s+= 0|fsync\({fd} <unfinished', l):
		        seen.append("fsync-file")
		    elif tmp and re.search(r'rename', l) and tmp in l and '"out.ndjson"' in l:
		        seen.append("rename")
		    elif "rename" in seen and re.search(r'openat\(AT_FDCWD, "\.", .*O_DIRECTORY.*= (\d+)', l):
		        seen.append("open-dir")
		want = ["open-tmp", "fsync-file", "rename", "open-dir", "fsync-dir"]
		assert [s for s in seen if s in want] == want, seen
	EOF
	dir_is out.ndjson
}

@test "file: the final name appears only when complete; a temporary .NAME.plumb-* before" {
	need_pg
	local key=$((LOCKS + 1))
	hold_lock $key
	"$PLUMB" export "$PLUMB_TEST_PG_URI" "$(blocking_query $key)" -o out.ndjson --progress \
		>"$T/out" 2>"$T/err" 3>&- &
	local pid=$!
	wait_until 60 lock_is $key waiting
	# the rows before the lock reach the temporary (all but the encoder's last 64 KiB)
	wait_until 60 size_at_least "$(temp_of out.ndjson)" 2000000
	[ ! -e out.ndjson ]
	dir_is "$(basename "$(temp_of out.ndjson)")"
	# --progress: the line keeps coming (every 200 ms) while the query waits
	wait_until 30 grep -Eq $'\r\033\\[K +19[0-9]{3} rows +[0-9.]+ [KM]iB' "$T/err"
	release_lock $key
	reap "$pid"
	status_is 0
	[ "$(wc -l <out.ndjson)" -eq 40000 ]
	dir_is out.ndjson
	# the progress line is wiped before the summary
	tr '\r' '\n' <"$T/err" | grep -v $'^\033\\[K +[0-9]+ rows' | sed $'s/^\033\\[K//' >"$T/err.clean"
	mv "$T/err.clean" "$T/err"
	summary_is out.ndjson 40000
}

@test "file: an existing file is an error unless --force (replaced) or --append (added to)" {
	printf 'old\n' >out.ndjson
	chmod 604 out.ndjson
	fails_cleanly 1 'out.ndjson: File exists \(use --force to replace it or --append to add to it\)' \
		"$DB" --table every -o out.ndjson
	printf 'old\n' | cmp - out.ndjson
	px "$DB" --table every -o out.ndjson --append
	status_is 0
	{ printf 'old\n'; every_ndjson; } | cmp - out.ndjson
	px "$DB" --table every -o out.ndjson --force
	status_is 0
	every_ndjson | cmp - out.ndjson
	[ "$(stat -c %a out.ndjson)" = 604 ] # a replaced file keeps its mode
	summary_is out.ndjson 11
	dir_is out.ndjson
	fails_cleanly 2 'give --force or --append, not both' "$DB" --table every -o x --force --append
}

@test "file: --append to a missing file creates it; --force to a missing file too" {
	px "$DB" --table every -o a.ndjson --append
	status_is 0
	px "$DB" --table every -o f.ndjson --force
	status_is 0
	every_ndjson | cmp - a.ndjson
	every_ndjson | cmp - f.ndjson
	dir_is a.ndjson f.ndjson
}

@test "file: a folder that does not exist, a file as folder, a directory as file: clear errors, nothing created" {
	fails_cleanly 1 'nodir/x.ndjson: the folder nodir does not exist' "$DB" --table every -o nodir/x.ndjson
	[ ! -e nodir ]
	touch plain
	fails_cleanly 1 'plain/x.ndjson: plain is not a folder' "$DB" --table every -o plain/x.ndjson
	mkdir adir
	fails_cleanly 1 'adir: Is a directory' "$DB" --table every -o adir --force
	dir_is plain adir
}

@test "file: a symbolic link is followed (--force replaces its target, keeps the link)" {
	printf 'old\n' >target
	ln -s target link
	px "$DB" --table every -o link --force
	status_is 0
	[ -L link ]
	every_ndjson | cmp - target
	ln -s nowhere dangling
	fails_cleanly 1 'dangling: a symbolic link to nothing' "$DB" --table every -o dangling --force
	dir_is target link dangling
}

@test "file: /dev/null and a FIFO are written in place, without --force" {
	px "$DB" --table every -o /dev/null
	status_is 0
	[ -c /dev/null ]
	every_ndjson >"$T/want"
	grep -qx "  sha256 $(sha "$T/want")" "$T/err"
	mkfifo fifo
	cat fifo >"$T/fromfifo" &
	px "$DB" --table every -o fifo
	wait $!
	status_is 0
	cmp "$T/want" "$T/fromfifo"
	dir_is fifo
}

@test "file: a query failing after rows were written: exit 1, no file, no temporary" {
	local q="with recursive c(x) as (select 1 union all select x + 1 from c where x < 200000)
		select x, printf('%030d', x) as pad,
		case when x = 150000 then abs(-9223372036854775808) else x end as y from c"
	px "$DB" "$q" -o out.ndjson --summary-json "$T/s.json"
	status_is 1
	no_stdout
	err_has '^plumb export: integer overflow$'
	# the failure came after bytes had gone to the file
	python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); assert s["bytes"] > 4000000, s' "$T/s.json"
	dir_is
	px "$DB" "select json('{bad') as j" -o out.ndjson
	status_is 1
	err_has 'malformed JSON'
	dir_is
}

@test "file: --append that fails in the middle cuts the file back to its old bytes" {
	local q="with recursive c(x) as (select 1 union all select x + 1 from c where x < 200000)
		select x, case when x = 150000 then abs(-9223372036854775808) else x end as y from c"
	every_ndjson >out.ndjson
	cp out.ndjson "$T/before"
	px "$DB" "$q" -o out.ndjson --append --summary-json "$T/s.json"
	status_is 1
	err_has 'integer overflow'
	python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); assert s["bytes"] > 1000000, s' "$T/s.json"
	cmp "$T/before" out.ndjson
	px "$DB" "$q" -o new.ndjson --append
	status_is 1
	dir_is out.ndjson
}

@test "file: SIGINT while the query waits: exit 130, no file, no temporary" {
	need_pg
	local key=$((LOCKS + 2))
	hold_lock $key
	"$PLUMB" export "$PLUMB_TEST_PG_URI" "$(blocking_query $key)" -o out.ndjson \
		>"$T/out" 2>"$T/err" 3>&- &
	local pid=$!
	wait_until 60 lock_is $key waiting
	wait_until 60 size_at_least "$(temp_of out.ndjson)" 1000000
	kill -INT "$pid"
	reap "$pid"
	status_is 130
	err_has '^plumb export: cancelled after [0-9]+ rows$'
	dir_is
	# the query was cancelled on the server, not left waiting there
	wait_until 30 not lock_is $key waiting
}

# ---- Compression ----

@test "compress: gzip and zstd decompress to exactly the export; sha256 is of the compressed bytes" {
	px "$DB" --table people -q
	cp "$T/out" "$T/plain"
	local z
	for z in gzip zstd; do
		px "$DB" --table people -z "$z" -o "out.$z"
		status_is 0
		"$z" -dc <"out.$z" | cmp "$T/plain" -
		summary_is "out.$z" 2000
		px "$DB" --table people --compress "$z" --level 9
		status_is 0
		"$z" -dc <"$T/out" | cmp "$T/plain" -
		summary_is "$T/out" 2000
	done
	px "$DB" --table every -f csv -z zstd --level 19
	status_is 0
	zstd -dc <"$T/out" | cmp <(every_csv) -
	dir_is out.gzip out.zstd
}

@test "compress: a failure removes the compressed temporary as well" {
	px "$DB" "with recursive c(x) as (select 1 union all select x + 1 from c where x < 100000)
		select x, case when x = 90000 then abs(-9223372036854775808) end from c" -z gzip -o out.gz
	status_is 1
	dir_is
}

# ---- PostgreSQL ----

@test "postgres: NDJSON of every fixture table equals psql's row_to_json, value by value" {
	need_pg
	local t
	for t in t_int t_float t_numeric t_bool t_text t_bytea t_json t_datetime t_uuid t_array \
		t_other t_colnames t_empty t_allnull people t_wide; do
		px "$PLUMB_TEST_PG_URI" "select * from $t order by id" -q
		status_is 0
		python3 "$PY/pgcheck.py" "$t" "$T/out"
	done
}

@test "postgres: --numeric-as-number writes NUMERIC bare (NaN and infinities null)" {
	need_pg
	local t
	for t in t_numeric people t_array; do
		px "$PLUMB_TEST_PG_URI" "select * from $t order by id" -q --numeric-as-number
		status_is 0
		python3 "$PY/pgcheck.py" "$t" "$T/out" --numeric-as-number
	done
}

@test "postgres: CSV equals psql's \\copy ... csv header byte for byte" {
	need_pg
	local t
	for t in t_int t_float t_numeric t_bool t_text t_bytea t_json t_datetime t_uuid t_array \
		t_other t_colnames t_empty t_allnull people t_wide; do
		px "$PLUMB_TEST_PG_URI" "select * from $t order by id" -f csv -o "$t.csv"
		status_is 0
		pg -c "\\copy (select * from $t order by id) to '$T/want.csv' csv header"
		cmp "$T/want.csv" "$t.csv"
		summary_is "$t.csv" "$(pg -c "select count(*) from $t")"
		px "$PLUMB_TEST_PG_URI" "select * from $t order by id" -f csv --no-header -q
		pg -c "\\copy (select * from $t order by id) to stdout csv" | cmp - "$T/out"
	done
	# booleans come from COPY: t and f
	px "$PLUMB_TEST_PG_URI" 'select * from t_bool order by id' -f csv -q
	grep -qx '1,t' "$T/out"
}

@test "postgres: --table with the row count known first; JSON array" {
	need_pg
	px "$PLUMB_TEST_PG_URI" --table people -f json -o people.json
	status_is 0
	summary_is people.json 10000
	pg -c 'select json_agg(p order by id) from people p' >/dev/null
	python3 - people.json <<-'EOF'
		import json, sys
		rows = json.load(open(sys.argv[1]))
		assert len(rows) == 10000 and sorted(r["id"] for r in rows) == list(range(1, 10001))
	EOF
}

@test "postgres: postgres: alone takes the PG* environment" {
	need_pg
	px "$PLUMB_TEST_PG_URI" 'select * from t_int order by id'
	status_is 0
	cp "$T/out" "$T/uri"
	local env
	env=$(python3 -c '
import sys, urllib.parse as u
p = u.urlparse(sys.argv[1])
print(p.hostname, p.port or 5432, p.username or "", p.path.lstrip("/"))' "$PLUMB_TEST_PG_URI")
	read -r h p u d <<<"$env"
	st=0
	env -u PGSERVICE PGHOST="$h" PGPORT="$p" PGUSER="$u" PGDATABASE="$d" \
		"$PLUMB" export postgres: 'select * from t_int order by id' >"$T/out" 2>"$T/err" || st=$?
	status_is 0
	cmp "$T/uri" "$T/out"
	st=0
	env -u PGSERVICE PGHOST="$h" PGPORT="$p" PGUSER="$u" PGDATABASE="$d" \
		"$PLUMB" export postgresql: --table t_bool -f csv -q >"$T/out" 2>"$T/err" || st=$?
	status_is 0
	pg -c '\copy t_bool to stdout csv header' | cmp - "$T/out"
}

@test "postgres: a SQL error names it with its position: exit 1, nothing written" {
	need_pg
	fails_cleanly 1 '^plumb export: column "nme" does not exist at character 12$' \
		"$PLUMB_TEST_PG_URI" 'select id, nme from people' -o out.ndjson
	err_has 'HINT: Perhaps you meant to reference the column "people.name"'
	fails_cleanly 1 'syntax error at or near "form" at character 10' \
		"$PLUMB_TEST_PG_URI" 'select * form people' -f csv -o out.csv
	fails_cleanly 1 'relation "nosuch" does not exist' "$PLUMB_TEST_PG_URI" --table nosuch
}

@test "postgres: an error after rows were sent: exit 1, no file, no temporary" {
	need_pg
	local f
	for f in ndjson csv; do
		px "$PLUMB_TEST_PG_URI" 'select id, name, 1 / (5000 - id) as boom from people order by id' \
			-f "$f" -o "out.$f" --summary-json "$T/s.json"
		status_is 1
		err_has '^plumb export: division by zero$'
		python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); assert s["bytes"] > 0 and s["rows"] > 0, s' "$T/s.json"
		dir_is
	done
}

@test "postgres: a bad URI, a refused port, a missing database, a bad user: clear messages" {
	need_pg
	local port
	port=$(free_port)
	fails_cleanly 1 "port $port failed: Connection refused" "postgresql://plumb@127.0.0.1:$port/plumb" 'select 1'
	fails_cleanly 1 'invalid percent-encoded token' 'postgresql://%zz' 'select 1'
	fails_cleanly 1 'database "nosuchdb" does not exist' \
		"$(echo "$PLUMB_TEST_PG_URI" | sed 's,/[^/]*$,/nosuchdb,')" 'select 1' -o out.ndjson
	fails_cleanly 1 'role "nosuchuser" does not exist' \
		"$(echo "$PLUMB_TEST_PG_URI" | sed 's,//[^@]*@,//nosuchuser@,')" 'select 1'
}

@test "postgres: libpq is mapped only for a PostgreSQL source; one that cannot load is a clear error" {
	# An SQLite export maps no libpq (nor its Kerberos, LDAP, GnuTLS...).
	loaded=$(LD_DEBUG=files "$PLUMB" export "$DB" --table people -q 2>&1 >/dev/null |
		grep -o 'file=[^ ]*' | sort -u)
	[[ $loaded == *libc.so* ]] # LD_DEBUG works here
	! grep -q 'libpq\.so' <<<"$loaded"
	# dlopen looks in LD_LIBRARY_PATH first: an empty file, then a library
	# without libpq's functions, stand where libpq would be.
	mkdir "$T/lib"
	: >"$T/lib/libpq.so.5"
	LD_LIBRARY_PATH=$T/lib fails_cleanly 1 \
		'cannot load the PostgreSQL client library libpq\.so\.5 \(Debian: apt install libpq5\): .*libpq\.so\.5' \
		'postgresql://plumb@127.0.0.1:1/plumb' 'select 1' -o out.ndjson
	echo 'int not_libpq;' | cc -shared -x c - -o "$T/lib/libpq.so.5"
	LD_LIBRARY_PATH=$T/lib fails_cleanly 1 'libpq\.so\.5 has no PQ[a-zA-Z]+: too old a libpq' \
		'postgresql://plumb@127.0.0.1:1/plumb' 'select 1' -o out.ndjson
}

# ---- HTTP ----

@test "http: POST streams the export; the sink's byte count and sha256 are the summary's" {
	start_sink
	px "$DB" --table people -q
	cp "$T/out" "$T/local"
	px "$DB" --table people -o "$SINK/upload/people.ndjson" --summary-json "$T/s.json"
	status_is 0
	no_stdout
	[ "$(sink_last method)" = '"POST"' ]
	[ "$(sink_last bytes)" = "$(stat -c %s "$T/local")" ]
	[ "$(sink_last sha256)" = "\"$(sha "$T/local")\"" ]
	[ "$(sink_last complete)" = true ]
	[ "$(sink_last chunked)" = true ]
	[ "$(sink_last content_type)" = '"application/x-ndjson"' ]
	summary_is "$T/local" 2000
	err_has '^  http status 200$'
	json_summary_is "$T/s.json" 2000 "$T/local" kind='"http"' http_status=200
}

@test "http: -X PUT, -H headers arrive; CSV gets text/csv, gzip application/gzip, -H replaces it" {
	start_sink
	px "$DB" --table every -f csv -X PUT -H 'X-Plumb-Test: one two' -H 'Authorization: Bearer s3cr3t' \
		-o "$SINK/put/every.csv"
	status_is 0
	[ "$(sink_last method)" = '"PUT"' ]
	[ "$(sink_last path)" = '"/put/every.csv"' ]
	[ "$(sink_last content_type)" = '"text/csv; charset=utf-8"' ]
	sink_last headers | python3 -c '
import json, sys
h = json.load(sys.stdin)
assert h["x-plumb-test"] == "one two" and h["authorization"] == "Bearer s3cr3t", h'
	[ "$(sink_last sha256)" = "\"$(every_csv | sha256sum | cut -d' ' -f1)\"" ]
	px "$DB" --table people -z gzip -o "$SINK/gz"
	status_is 0
	[ "$(sink_last content_type)" = '"application/gzip"' ]
	px "$DB" --table every -H 'Content-Type: application/vnd.plumb' -o "$SINK/ct"
	status_is 0
	[ "$(sink_last content_type)" = '"application/vnd.plumb"' ]
	grep -qx "  sha256 $(sink_last sha256 | tr -d '"')" "$T/err"
}

@test "http: a 4xx or 5xx answer: exit 1 with the status and the body's first line" {
	start_sink
	fails_cleanly 1 "^plumb export: POST $SINK/status/503: HTTP 503 Service Unavailable: sink: forced status 503" \
		"$DB" --table people -o "$SINK/status/503"
	fails_cleanly 1 "PUT $SINK/status/404: HTTP 404 Not Found: sink: forced status 404" \
		"$DB" --table people -o "$SINK/status/404" -X PUT
	fails_cleanly 1 'HTTP 500 Internal Server Error: sink: forced status 500' \
		"$DB" --table every -o "$SINK/status/500?early=1"
}

@test "http: connection refused, and a server that hangs up mid-body: clear messages" {
	start_sink
	local port
	port=$(free_port)
	fails_cleanly 1 "cannot connect to 127.0.0.1:$port: Connection refused" \
		"$DB" --table every -o "http://127.0.0.1:$port/x" --retries 1
	# (closed while plumb writes, or dropped while it reads: either is a clear message)
	fails_cleanly 1 "127.0.0.1:[0-9]+ (closed|dropped) the connection after [0-9]+ bytes of the body" \
		"$DB" "$(gen_rows 100000)" -o "$SINK/drop?after=100000"
}

@test "http: SIGINT while the query waits: exit 130, the sink never sees the end of the body" {
	need_pg
	start_sink
	local key=$((LOCKS + 3))
	hold_lock $key
	"$PLUMB" export "$PLUMB_TEST_PG_URI" "$(blocking_query $key)" -o "$SINK/cut" \
		>"$T/out" 2>"$T/err" 3>&- &
	local pid=$!
	wait_until 60 lock_is $key waiting
	kill -INT "$pid"
	reap "$pid"
	status_is 130
	err_has 'cancelled after [0-9]+ rows'
	wait_until 30 sink_last_is complete false
}

@test "https: --cacert trusts a CA of the test's own; the sink's byte count and sha256 are the summary's" {
	start_tls_sink
	px "$DB" --table people -q
	cp "$T/out" "$T/local"
	px "$DB" --table people -o "$SINK/upload/people.ndjson" --cacert "$T/tls/ca.pem" \
		--summary-json "$T/s.json"
	status_is 0
	no_stdout
	[ "$(sink_last path)" = '"/upload/people.ndjson"' ]
	[ "$(sink_last bytes)" = "$(stat -c %s "$T/local")" ]
	[ "$(sink_last sha256)" = "\"$(sha "$T/local")\"" ]
	[ "$(sink_last complete)" = true ]
	[ "$(sink_last chunked)" = true ]
	summary_is "$T/local" 2000
	err_has '^  http status 200$'
	json_summary_is "$T/s.json" 2000 "$T/local" kind='"http"' http_status=200
	# -k skips the check, as curl's does
	px "$DB" --table people -o "$SINK/insecure" -k -q
	status_is 0
	[ "$(sink_last sha256)" = "\"$(sha "$T/local")\"" ]
	[ "$(sink_field tls_failures)" = 0 ]
}

@test "https: an untrusted or misnamed certificate: exit 1, a clear message, no request reaches the sink" {
	start_tls_sink
	local port=${SINK##*:}
	# no --cacert: the system's CAs do not know the test CA
	fails_cleanly 1 "^plumb export: POST $SINK/x: TLS with 127.0.0.1:$port failed: SSL certificate problem: unable to get local issuer certificate" \
		"$DB" --table people -o "$SINK/x"
	# another CA
	fails_cleanly 1 "TLS with 127.0.0.1:$port failed: SSL certificate problem" \
		"$DB" --table people -o "$SINK/x" --cacert "$T/tls/other-ca.pem"
	# tried once only: a certificate problem does not pass with retries
	[ "$(sink_field tls_failures)" = 2 ]
	[ "$(sink_field requests)" = 0 ]
	# S3 too refuses the server
	AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=secret fails_cleanly 1 \
		"s3://bucket/key: PutObject: TLS with 127.0.0.1:$port failed: SSL certificate problem" \
		"$DB" --table people -o s3://bucket/key --endpoint "$SINK"
	[ "$(sink_field requests)" = 0 ]
	# a CA file that cannot be read is refused before anything is read or sent
	fails_cleanly 1 "^plumb export: --cacert $T/tls/none.pem: No such file or directory" \
		"$DB" --table people -o "$SINK/x" --cacert "$T/tls/none.pem"
	[ "$(sink_field tls_failures)" = 3 ]

	# a certificate of the right CA for another name ("localhost" only)
	start_tls_sink localhost
	port=${SINK##*:}
	fails_cleanly 1 "TLS with 127.0.0.1:$port failed: .*(subject name|does not match).*127\.0\.0\.1" \
		"$DB" --table people -o "$SINK/x" --cacert "$T/tls/ca.pem"
	[ "$(sink_field requests)" = 0 ]
}

# ---- S3 ----

@test "s3: a small export is one object with the export's bytes" {
	need_s3
	local k
	k=$(s3key people.ndjson)
	px "$DB" --table people -q
	cp "$T/out" "$T/local"
	px "$DB" --table people -o "s3://$PLUMB_TEST_S3_BUCKET/$k" --endpoint "$PLUMB_TEST_S3_ENDPOINT" \
		--summary-json "$T/s.json"
	status_is 0
	no_stdout
	s3_object_is "$k" "$T/local"
	summary_is "$T/local" 2000
	local md5
	md5=$(md5sum <"$T/local" | cut -d' ' -f1)
	err_has "^  etag $md5 \(0 parts, 0 retries\)$"
	json_summary_is "$T/s.json" 2000 "$T/local" kind='"s3"' parts=0 etag="\"$md5\""
	s3c head "$PLUMB_TEST_S3_BUCKET" "$k" | grep -q '"content_type": "application/x-ndjson"'
}

@test "s3: a multipart export (5 MiB parts): the object is exact, ETag md5-of-md5s-N" {
	need_s3
	local k q
	k=$(s3key big.ndjson)
	q=$(gen_rows 400000)
	px "$DB" "$q" -q
	cp "$T/out" "$T/local"
	[ "$(stat -c %s "$T/local")" -ge $((16 << 20)) ]
	px "$DB" "$q" -o "s3://$PLUMB_TEST_S3_BUCKET/$k" --endpoint "$PLUMB_TEST_S3_ENDPOINT" \
		--part-size 5MiB --summary-json "$T/s.json"
	status_is 0
	s3_object_is "$k" "$T/local"
	local etag
	etag=$(python3 - "$T/got.s3" <<-'EOF'
		import hashlib, sys
		data, size = open(sys.argv[1], "rb").read(), 5 << 20
		parts = [data[i:i + size] for i in range(0, len(data), size)]
		print(hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}")
	EOF
	)
	local n
	n=$(parts_of "$T/local")
	[ "$n" -ge 3 ]
	[[ $etag == *-$n ]]
	s3c head "$PLUMB_TEST_S3_BUCKET" "$k" | grep -q "\"etag\": \"$etag\""
	err_has "^  etag $etag \($n parts, 0 retries\)$"
	json_summary_is "$T/s.json" 400000 "$T/local" parts="$n" etag="\"$etag\""
	s3c rm "$PLUMB_TEST_S3_BUCKET" "$k" >/dev/null
}

@test "s3: --part-size below 5MiB is a usage error before anything is read or sent" {
	need_s3
	start_proxy
	fails_cleanly 2 "part size '4MiB' is below S3's minimum of 5MiB" \
		missing.db 'select 1' -o "s3://$PLUMB_TEST_S3_BUCKET/x" --endpoint "$PROXY" --part-size 4MiB
	err_has "Try 'plumb export --help'"
	[ "$(curl -sf "$PROXY/__stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])')" = 0 ]
	fails_cleanly 2 "in 's3://ab/x': the bucket name is shorter than 3 characters" \
		"$DB" 'select 1' -o s3://ab/x --endpoint "$PROXY"
}

@test "s3: bad credentials: exit 1 with the server's code, no object, no upload left" {
	need_s3
	local k
	k=$(s3key creds.ndjson)
	st=0
	AWS_SECRET_ACCESS_KEY=wrong-secret "$PLUMB" export "$DB" --table people -o "s3://$PLUMB_TEST_S3_BUCKET/$k" \
		--endpoint "$PLUMB_TEST_S3_ENDPOINT" >"$T/out" 2>"$T/err" || st=$?
	status_is 1
	err_has "s3://$PLUMB_TEST_S3_BUCKET/$k: PutObject: HTTP 403 SignatureDoesNotMatch"
	no_object "$k"
	st=0
	AWS_SECRET_ACCESS_KEY=wrong-secret "$PLUMB" export "$DB" "$(gen_rows 300000)" --part-size 5MiB \
		-o "s3://$PLUMB_TEST_S3_BUCKET/$k" --endpoint "$PLUMB_TEST_S3_ENDPOINT" >"$T/out" 2>"$T/err" || st=$?
	status_is 1
	err_has 'CreateMultipartUpload: HTTP 403 SignatureDoesNotMatch'
	no_object "$k"
	st=0
	AWS_ACCESS_KEY_ID=NOSUCHKEY0000000000 "$PLUMB" export "$DB" --table every -o "s3://$PLUMB_TEST_S3_BUCKET/$k" \
		--endpoint "$PLUMB_TEST_S3_ENDPOINT" >"$T/out" 2>"$T/err" || st=$?
	status_is 1
	err_has 'HTTP 403 InvalidAccessKeyId'
	no_object "$k"
}

@test "s3: no credentials at all: a clear message, nothing sent" {
	need_s3
	start_proxy
	st=0
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
		AWS_SHARED_CREDENTIALS_FILE="$T/none" AWS_CONFIG_FILE="$T/none" \
		"$PLUMB" export "$DB" --table every -o "s3://$PLUMB_TEST_S3_BUCKET/x" --endpoint "$PROXY" \
		>"$T/out" 2>"$T/err" || st=$?
	status_is 1
	err_has 'no AWS credentials'
	[ "$(curl -sf "$PROXY/__stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])')" = 0 ]
}

@test "s3: a missing bucket says NoSuchBucket; an unreachable endpoint says so" {
	need_s3
	fails_cleanly 1 'PutObject: HTTP 404 NoSuchBucket' \
		"$DB" --table every -o s3://plumb-no-such-bucket/x --endpoint "$PLUMB_TEST_S3_ENDPOINT"
	local port
	port=$(free_port)
	fails_cleanly 1 "cannot connect to 127.0.0.1:$port: Connection refused" \
		"$DB" --table every -o "s3://$PLUMB_TEST_S3_BUCKET/x" --endpoint "http://127.0.0.1:$port" --retries 1
}

@test "s3: a part that fails once (500) is sent again; the object is still exact" {
	need_s3
	start_proxy 'kind=UploadPart,nth=2,action=error'
	local k q
	k=$(s3key retried.ndjson)
	q=$(gen_rows 300000)
	px "$DB" "$q" -q
	cp "$T/out" "$T/local"
	px "$DB" "$q" -o "s3://$PLUMB_TEST_S3_BUCKET/$k" --endpoint "$PROXY" --part-size 5MiB \
		--summary-json "$T/s.json"
	status_is 0
	[ "$(proxy_count UploadPart faulted)" = 1 ]
	s3_object_is "$k" "$T/local"
	local n
	n=$(parts_of "$T/local")
	[ "$n" -ge 3 ]
	err_has "\($n parts, 1 retries\)"
	json_summary_is "$T/s.json" 300000 "$T/local" parts="$n" retries=1
	s3c rm "$PLUMB_TEST_S3_BUCKET" "$k" >/dev/null
}

@test "s3: a part that always fails: exit 1 naming the part, upload aborted, no object" {
	need_s3
	start_proxy 'kind=UploadPart,nth=2,times=0,action=error'
	local k
	k=$(s3key failed.ndjson)
	fails_cleanly 1 "s3://$PLUMB_TEST_S3_BUCKET/$k: UploadPart [0-9]+: HTTP 500 InternalError: injected by faultproxy \(after 3 attempts\); the multipart upload was aborted" \
		"$DB" "$(gen_rows 300000)" -o "s3://$PLUMB_TEST_S3_BUCKET/$k" --endpoint "$PROXY" \
		--part-size 5MiB --retries 2
	[ "$(proxy_count AbortMultipartUpload seen)" = 1 ]
	no_object "$k"
}

@test "s3: SIGINT in the middle of a multipart export: exit 130, upload aborted, no object" {
	need_s3
	start_proxy 'kind=UploadPart,nth=1,times=0,action=stall,seconds=120'
	local k pid
	k=$(s3key interrupted.ndjson)
	"$PLUMB" export "$DB" "$(gen_rows 300000)" -o "s3://$PLUMB_TEST_S3_BUCKET/$k" --endpoint "$PROXY" \
		--part-size 5MiB >"$T/out" 2>"$T/err" 3>&- &
	pid=$!
	wait_until 60 proxy_saw UploadPart 1
	[ -n "$(leftover_uploads "$k")" ]
	kill -INT "$pid"
	reap "$pid"
	status_is 130
	err_has 'cancelled after [0-9]+ rows \(.*the multipart upload was aborted\)'
	[ "$(proxy_count AbortMultipartUpload seen)" = 1 ]
	no_object "$k"
}

# ---- Bad input ----

@test "bad input: an unknown scheme, a missing or non-database SQLite file" {
	fails_cleanly 1 "unknown database scheme 'mysql' in 'mysql://x'" mysql://x 'select 1' -o out.ndjson
	fails_cleanly 1 'nope.db: No such file or directory' nope.db 'select 1'
	[ ! -e nope.db ]
	fails_cleanly 1 'nope.db: No such file or directory' sqlite:nope.db 'select 1' -o out.ndjson
	[ ! -e nope.db ]
	printf 'just text, not a database\n' >notdb
	fails_cleanly 1 'notdb: file is not a database' notdb 'select 1' -o out.ndjson
	dir_is notdb
}

@test "bad input: SQL errors in SQLite name the problem and where" {
	fails_cleanly 1 'near "selec": syntax error at character 1' "$DB" 'selec 1' -o out.ndjson
	fails_cleanly 1 'no such column: nosuch' "$DB" 'select nosuch from every'
	fails_cleanly 1 'no such table: nosuch' "$DB" 'select * from nosuch' -f csv
}

@test "bad input: usage errors exit 2 before anything is read" {
	fails_cleanly 2 "unknown format 'xml' \(ndjson, csv, json\)" "$DB" 'select 1' -f xml -o out.xml
	fails_cleanly 2 "unknown compression 'lz4' \(gzip, zstd\)" "$DB" 'select 1' -z lz4 -o out.lz4
	fails_cleanly 2 'missing QUERY \(or --table TABLE\)' "$DB"
	fails_cleanly 2 'missing SOURCE' -o out.ndjson
	fails_cleanly 2 'give a QUERY or --table, not both' "$DB" 'select 1' --table every
	fails_cleanly 2 "plumb export: unrecognized option '--bogus'" "$DB" 'select 1' --bogus
	fails_cleanly 2 "plumb export: invalid option -- 'x'" "$DB" 'select 1' -x
	fails_cleanly 2 "option '--format' requires an argument" "$DB" 'select 1' --format
	fails_cleanly 2 "unexpected argument 'extra'" "$DB" 'select 1' extra
	fails_cleanly 2 'compression level 19 is out of range for gzip \(1-9\)' "$DB" 'select 1' -z gzip --level 19
	fails_cleanly 2 "invalid compression level '0'" "$DB" 'select 1' -z zstd --level 0
	fails_cleanly 2 '--level needs --compress' "$DB" 'select 1' --level 3
	fails_cleanly 2 "invalid header 'nocolon'" "$DB" 'select 1' -H nocolon
	fails_cleanly 2 "invalid concurrency '0'" "$DB" 'select 1' --concurrency 0
	fails_cleanly 2 "invalid retry count 'many'" "$DB" 'select 1' --retries many
	fails_cleanly 2 "part size '6GiB' is above S3's maximum of 5GiB" "$DB" 'select 1' --part-size 6GiB
	fails_cleanly 2 'empty destination \(use - for standard output\)' "$DB" 'select 1' -o ''
	# a usage error comes before the source is looked at
	fails_cleanly 2 "unknown format 'xml'" nope.db 'select 1' -f xml
	[ ! -e nope.db ]
	err_has "^Try 'plumb export --help' for more information\.$"
}

@test "--no-checksum: the same bytes, no SHA-256 in the summary or its JSON" {
	"$PLUMB" export "$DB" --table every -q >"$T/with"
	"$PLUMB" export "$DB" --table every --no-checksum --summary-json "$T/s.json" >"$T/without" 2>"$T/err"
	cmp "$T/with" "$T/without"
	grep -q 'sha256 (not computed: --no-checksum)' "$T/err"
	[ "$(python3 -c 'import json, sys; print(repr(json.load(open(sys.argv[1]))["sha256"]))' "$T/s.json")" = "''" ]
}

@test "--help lists every option it parses" {
	"$PLUMB" export --help >"$T/help"
	local o
	for o in --table --format --no-header --numeric-as-number --compress --level --to --force \
		--append --method --header --cacert --insecure --retries --endpoint --region --profile \
		--part-size --concurrency --virtual-hosted --quiet --progress --no-progress \
		--summary-json --no-checksum --help; do
		grep -q -- "$o" "$T/help" || {
			echo "--help does not mention $o"
			return 1
		}
	done
}

# ---- Memory ----

@test "memory: 1,000,000 rows to /dev/null and to a file in <= 16 MiB, as 100,000 rows" {
	local f limit=16
	if ldd "$PLUMB" 2>/dev/null | grep -q libasan; then
		# ASan keeps freed blocks in a quarantine (SQLite frees a string a
		# row here) and adds its own shadow memory and allocator: without the
		# quarantine the peak stays flat, a few MiB above the plain build's.
		export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0
		limit=24
	fi
	for f in 100k:100000:/dev/null 1m:1000000:/dev/null 1mfile:1000000:big.ndjson; do
		IFS=: read -r name n dest <<<"$f"
		px "$DB" "$(gen_rows "$n")" -o "$dest" --summary-json "$T/$name.json"
		status_is 0
		err_has "^plumb export: $n rows, "
	done
	summary_is big.ndjson 1000000
	python3 - "$limit" "$T/100k.json" "$T/1m.json" "$T/1mfile.json" <<-'EOF'
		import json, sys
		limit = float(sys.argv[1])
		s = [json.load(open(p)) for p in sys.argv[2:]]
		rss = [x["peak_rss_bytes"] / 2**20 for x in s]
		print("peak RSS MiB: 100k %.1f, 1M %.1f, 1M to a file %.1f (limit %g)" % (*rss, limit))
		assert s[1]["bytes"] > 40e6 and s[1]["sha256"] == s[2]["sha256"], s
		assert max(rss) <= limit, rss
		assert abs(rss[1] - rss[0]) <= 2 and abs(rss[2] - rss[0]) <= 2, rss
	EOF
	rm big.ndjson
}

# ---- Proxies (http_proxy, https_proxy, no_proxy) ----

# start_fwdproxy [ARG...]: tests/services/fwdproxy.py (a forward proxy) with
# ARGs, logging each request to $T/fwd.log; $FWD is its host:port.  The
# proxy variables are only ever set on plumb's command line: curl and
# s3check.py honour them too.
start_fwdproxy() {
	rm -f "$T/fwd.port"
	bg python3 "$SERVICES/fwdproxy.py" --port-file "$T/fwd.port" --log "$T/fwd.log" "$@"
	wait_until 30 test -s "$T/fwd.port"
	FWD=127.0.0.1:$(cat "$T/fwd.port")
	: >"$T/fwd.log"
}

# fwd_saw N: the proxy's log has N requests.
fwd_saw() {
	local n
	n=$(wc -l <"$T/fwd.log")
	if [ "$n" -ne "$1" ]; then
		echo "the proxy saw $n requests, want $1:"
		cat "$T/fwd.log"
		return 1
	fi
}

@test "proxy: http_proxy carries an http export (absolute form); HTTP_PROXY is ignored; no_proxy bypasses it" {
	start_sink
	start_fwdproxy
	px "$DB" --table people -q
	cp "$T/out" "$T/local"
	http_proxy=http://$FWD px "$DB" --table people -o "$SINK/via/people.ndjson?x=1"
	status_is 0
	[ "$(sink_last path)" = '"/via/people.ndjson"' ]
	[ "$(sink_last sha256)" = "\"$(sha "$T/local")\"" ]
	[ "$(sink_last chunked)" = true ]
	fwd_saw 1
	grep -qF "\"method\": \"POST\", \"target\": \"$SINK/via/people.ndjson?x=1\"" "$T/fwd.log"
	# the Host the sink got is its own, not the proxy's
	[ "$(sink_last headers | python3 -c 'import json, sys; print(json.load(sys.stdin)["host"])')" = "${SINK#http://}" ]
	# HTTP_PROXY (upper case) is not read for http:// (httpoxy), as in curl
	HTTP_PROXY=http://127.0.0.1:1 px "$DB" --table people -o "$SINK/direct1" -q
	status_is 0
	# no_proxy: straight to the sink
	http_proxy=http://$FWD no_proxy=example.org,127.0.0.1 px "$DB" --table people -o "$SINK/direct2" -q
	status_is 0
	[ "$(sink_last path)" = '"/direct2"' ]
	fwd_saw 1
	# a proxy that is down: the message says it is the proxy
	http_proxy=http://127.0.0.1:1 fails_cleanly 1 "^plumb export: POST $SINK/x: cannot connect to the proxy 127.0.0.1:1 \(from http_proxy\): Connection refused" \
		"$DB" --table people -o "$SINK/x" --retries 0
}

@test "proxy: https through CONNECT, the certificate checked against the sink; 407 without credentials" {
	start_tls_sink
	start_fwdproxy --user 'me:s3cr@t'
	local port=${SINK##*:}
	px "$DB" --table people -q
	cp "$T/out" "$T/local"
	HTTPS_PROXY="http://me:s3cr%40t@$FWD" px "$DB" --table people -o "$SINK/tunnel" --cacert "$T/tls/ca.pem"
	status_is 0
	[ "$(sink_last path)" = '"/tunnel"' ]
	[ "$(sink_last sha256)" = "\"$(sha "$T/local")\"" ]
	fwd_saw 1
	grep -qF "{\"method\": \"CONNECT\", \"target\": \"127.0.0.1:$port\", \"auth\": true, \"status\": 200" "$T/fwd.log"
	# without --cacert the tunnel opens but the certificate is refused
	https_proxy="http://me:s3cr%40t@$FWD" fails_cleanly 1 "TLS with 127.0.0.1:$port failed: SSL certificate problem: unable to get local issuer certificate" \
		"$DB" --table people -o "$SINK/x"
	# no credentials: the proxy's 407, said to be the proxy's, not retried
	https_proxy=$FWD fails_cleanly 1 "^plumb export: POST $SINK/x: proxy $FWD \(from https_proxy\) refused CONNECT 127.0.0.1:$port: HTTP/1.1 407 Proxy Authentication Required \(it wants credentials" \
		"$DB" --table people -o "$SINK/x" --cacert "$T/tls/ca.pem"
	[ "$(grep -c '"status": 407' "$T/fwd.log")" = 1 ]
	# credentials never show in messages
	https_proxy="http://me:wrong-secret@$FWD" px "$DB" --table people -o "$SINK/x" --cacert "$T/tls/ca.pem"
	status_is 1
	err_has 'did not take the credentials'
	if grep -q wrong-secret "$T/err"; then
		echo "the password shows in the message"
		return 1
	fi
	# an https:// proxy is refused in so many words
	https_proxy=https://$FWD fails_cleanly 1 'the proxy in https_proxy is an https:// one \(TLS to the proxy\), which is not supported' \
		"$DB" --table people -o "$SINK/x" --cacert "$T/tls/ca.pem"
}

@test "proxy: s3 through http_proxy: SigV4 still verifies, single and multipart" {
	need_s3
	start_fwdproxy
	local k q
	k=$(s3key via-proxy.ndjson)
	px "$DB" --table people -q
	cp "$T/out" "$T/local"
	http_proxy=http://$FWD px "$DB" --table people -o "s3://$PLUMB_TEST_S3_BUCKET/$k" \
		--endpoint "$PLUMB_TEST_S3_ENDPOINT"
	status_is 0
	s3_object_is "$k" "$T/local"
	fwd_saw 1
	grep -qF "\"method\": \"PUT\", \"target\": \"$PLUMB_TEST_S3_ENDPOINT/$PLUMB_TEST_S3_BUCKET/$k" "$T/fwd.log"
	# multipart: every request through the proxy, on kept-alive connections
	q=$(gen_rows 300000)
	px "$DB" "$q" -q
	cp "$T/out" "$T/local"
	http_proxy=http://$FWD px "$DB" "$q" -o "s3://$PLUMB_TEST_S3_BUCKET/$k" \
		--endpoint "$PLUMB_TEST_S3_ENDPOINT" --part-size 5MiB
	status_is 0
	s3_object_is "$k" "$T/local"
	local n
	n=$(parts_of "$T/local")
	[ "$n" -ge 2 ]
	# Create, n parts, Complete, each once, and every answer through it a 200
	[ "$(grep -c '"method": "POST", .*?uploads=' "$T/fwd.log")" = 1 ]
	[ "$(grep -c '"method": "PUT", .*?partNumber=' "$T/fwd.log")" = "$n" ]
	[ "$(grep -c '"method": "POST", .*?uploadId=' "$T/fwd.log")" = 1 ]
	[ "$(grep -vc '"status": 200' "$T/fwd.log")" = 0 ]
}
