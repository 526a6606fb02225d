#!/usr/bin/env bats
#
# hash.bats - `plumb hash` against coreutils' sha256sum and its siblings.
#
# plumb hash promises coreutils' output and --check behaviour byte for byte,
# so most tests run the same command line through both and compare stdout,
# stderr (program name aside) and the exit status.  The data files are
# pseudo-random but fixed (AES-CTR of zeros under a per-size key), so every
# run hashes the same bytes.  $PLUMB is the built command.

PLUMB=${PLUMB:-plumb}

# prng N: N fixed pseudo-random bytes on stdout.
prng() {
	openssl enc -aes-128-ctr -pbkdf2 -nosalt -pass "pass:plumb-$1" </dev/zero 2>/dev/null |
		head -c "$1"
}

setup_file() {
	local d=$BATS_FILE_TMPDIR/data
	mkdir -p "$d"
	for n in 0 1 4095 4096 4097; do
		prng "$n" >"$d/f$n"
	done
	prng $((100 << 20)) >"$d/big"
}

setup() {
	D=$BATS_FILE_TMPDIR/data
	T=$BATS_TEST_TMPDIR
	FILES=(f0 f1 f4095 f4096 f4097 big)
	cd "$D" || return 1
}

# same_as TOOL ALGO ARGS...: `TOOL ARGS...` and `plumb hash -a ALGO ARGS...`
# print the same stdout and stderr (with the program's name replaced) and
# exit with the same status.  ALGO "" runs plumb hash without -a.  Both read
# standard input from the file $IN (default /dev/null).
same_as() {
	local tool=$1 algo=$2 want=0 got=0
	shift 2
	local -a a=()
	[ -z "$algo" ] || a=(-a "$algo")
	"$tool" "$@" <"${IN:-/dev/null}" >"$T/want.out" 2>"$T/want.err" || want=$?
	"$PLUMB" hash "${a[@]}" "$@" <"${IN:-/dev/null}" >"$T/got.out" 2>"$T/got.err" || got=$?
	sed -e "s/^$tool: /plumb hash: /" -e "s/'$tool --help'/'plumb hash --help'/" \
		"$T/want.err" >"$T/want.err2"
	diff -u "$T/want.out" "$T/got.out"
	diff -u "$T/want.err2" "$T/got.err"
	if [ "$want" != "$got" ]; then
		echo "exit status $got, coreutils $want"
		return 1
	fi
}

# fails_cleanly PATTERN ARGS...: plumb hash ARGS... exits 1, prints nothing
# on stdout, and says something matching PATTERN on stderr.
fails_cleanly() {
	local pattern=$1 status=0
	shift
	"$PLUMB" hash "$@" >"$T/out" 2>"$T/err" || status=$?
	cat "$T/err"
	[ "$status" -eq 1 ]
	[ ! -s "$T/out" ]
	grep -q -- "$pattern" "$T/err"
}

# ---- Digests ----

@test "sha256 of 0, 1, 4095, 4096, 4097 bytes and 100 MiB is sha256sum's" {
	same_as sha256sum sha256 "${FILES[@]}"
	same_as sha256sum "" "${FILES[@]}" # sha256 is the default
}

@test "md5, sha1, sha224, sha384, sha512 are md5sum's, sha1sum's... byte for byte" {
	for a in md5 sha1 sha224 sha384 sha512; do
		same_as "${a}sum" "$a" "${FILES[@]}"
	done
}

@test "blake2b512 is b2sum's, plain and --tag" {
	same_as b2sum blake2b512 "${FILES[@]}"
	same_as b2sum blake2b512 --tag "${FILES[@]}"
}

@test "algorithm names: any case, sha-256, BSD tags" {
	for a in SHA256 sha-256 Sha2-256; do
		same_as sha256sum "$a" f4097
	done
	same_as b2sum BLAKE2b f1
}

@test "sha3 and blake2s agree with openssl dgst" {
	for a in sha3-256 sha3-512 blake2s256; do
		want=$(openssl dgst "-$a" -r big | cut -d' ' -f1)
		got=$("$PLUMB" hash -a "$a" big)
		[ "$got" = "$want  big" ]
	done
	run "$PLUMB" hash --tag -a sha3-256 -a blake2s256 f1
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "SHA3-256 (f1) = $(openssl dgst -sha3-256 -r f1 | cut -d' ' -f1)" ]
	[ "${lines[1]}" = "BLAKE2S-256 (f1) = $(openssl dgst -blake2s256 -r f1 | cut -d' ' -f1)" ]
}

@test "--tag is sha256sum --tag's, md5sum --tag's, sha1sum --tag's" {
	same_as sha256sum sha256 --tag "${FILES[@]}"
	same_as md5sum md5 --tag "${FILES[@]}"
	same_as sha1sum sha1 --tag "${FILES[@]}"
}

@test "several -a: one BSD line per algorithm per file, in the order given" {
	for f in "${FILES[@]}"; do
		md5sum --tag "$f"
		sha1sum --tag "$f"
		sha512sum --tag "$f"
		b2sum --tag "$f"
	done >"$T/want"
	"$PLUMB" hash -a md5 -a sha1,sha512 -a blake2b512 "${FILES[@]}" >"$T/got"
	cmp "$T/want" "$T/got"
	# Naming one algorithm twice computes it once.
	run "$PLUMB" hash -a md5 -a MD5 -a md5 f1
	[ "$output" = "$(md5sum f1)" ]
}

@test "several algorithms over a pipe: each input is read once, all digests right" {
	# A pipe cannot be read twice, so right digests prove a single read.
	"$PLUMB" hash -a md5 -a sha256 -a sha1 <(cat big) <(cat f4097) >"$T/got"
	run cat "$T/got"
	[ "${#lines[@]}" -eq 6 ]
	[ "${lines[0]#MD5 (*) = }" = "$(md5sum <big | cut -d' ' -f1)" ]
	[ "${lines[1]#SHA256 (*) = }" = "$(sha256sum <big | cut -d' ' -f1)" ]
	[ "${lines[2]#SHA1 (*) = }" = "$(sha1sum <big | cut -d' ' -f1)" ]
	[ "${lines[3]#MD5 (*) = }" = "$(md5sum <f4097 | cut -d' ' -f1)" ]
	[ "${lines[4]#SHA256 (*) = }" = "$(sha256sum <f4097 | cut -d' ' -f1)" ]
	[ "${lines[5]#SHA1 (*) = }" = "$(sha1sum <f4097 | cut -d' ' -f1)" ]
}

@test "on one CPU (no worker threads) the digests are the same" {
	command -v taskset || skip "taskset (util-linux) is not installed"
	taskset -c 0 "$PLUMB" hash -a md5,sha256 big f4097 >"$T/one"
	"$PLUMB" hash -a md5,sha256 big f4097 >"$T/many"
	cmp "$T/one" "$T/many"
	[ "$(taskset -c 0 "$PLUMB" hash <big)" = "$(sha256sum <big)" ]
}

@test "standard input: no file, '-', a redirected file, a pipe" {
	[ "$("$PLUMB" hash <big)" = "$(sha256sum <big)" ]
	[ "$("$PLUMB" hash - <f4095)" = "$(sha256sum - <f4095)" ]
	# shellcheck disable=SC2002 # a pipe on purpose, not a regular file
	[ "$(cat big | "$PLUMB" hash -a sha1)" = "$(sha1sum <big)" ]
	# shellcheck disable=SC2002
	[ "$(cat f1 | "$PLUMB" hash --tag)" = "$(sha256sum --tag <f1)" ]
	[ "$(: | "$PLUMB" hash -a md5)" = "$(md5sum </dev/null)" ]
	# '-' twice: the second read finds the end, as with sha256sum.
	[ "$("$PLUMB" hash - - <f4096)" = "$(sha256sum - - <f4096)" ]
}

@test "names with spaces, backslashes, newlines are written as sha256sum writes them" {
	cd "$T"
	printf a >'with space'
	printf b >'back\slash'
	printf c >'new
line'
	printf d >'both\
'
	printf e >"$(printf 'carriage\rreturn')"
	printf f >' lead'
	names=('with space' 'back\slash' 'new
line' 'both\
' "$(printf 'carriage\rreturn')" ' lead')
	same_as sha256sum sha256 "${names[@]}"
	same_as sha256sum sha256 --tag "${names[@]}"
	same_as sha256sum sha256 -z "${names[@]}"
	same_as sha256sum sha256 -z --tag "${names[@]}"
	same_as md5sum md5 -b "${names[@]}"
}

@test "-z ends lines with NUL and -b marks binary mode, as sha256sum does" {
	same_as sha256sum sha256 -z "${FILES[@]}"
	same_as sha256sum sha256 -b "${FILES[@]}"
	same_as sha256sum sha256 -b -t f1
}

# ---- --check ----

@test "--check: a sha256sum list passes, output as sha256sum -c's" {
	sha256sum "${FILES[@]}" >"$T/list"
	same_as sha256sum sha256 -c "$T/list"
	same_as sha256sum "" --check "$T/list"
	[ "$(cat "$T/got.out")" = "$(printf '%s: OK\n' "${FILES[@]}")" ]
}

@test "--check: a sha256sum --tag list passes" {
	sha256sum --tag "${FILES[@]}" >"$T/list"
	same_as sha256sum sha256 -c "$T/list"
	same_as sha256sum "" -c "$T/list"
}

@test "--check: a plumb list of several algorithms passes" {
	"$PLUMB" hash -a md5,sha1,sha256,sha512,sha3-256,blake2b512,blake2s256 "${FILES[@]}" \
		>"$T/list"
	[ "$(wc -l <"$T/list")" -eq $((7 * ${#FILES[@]})) ]
	run "$PLUMB" hash -c "$T/list"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq $((7 * ${#FILES[@]})) ]
	[ "$(printf '%s\n' "${lines[@]}" | sort -u)" = "$(printf '%s: OK\n' "${FILES[@]}" | sort)" ]
	# And plumb's plain lists check with sha256sum.
	"$PLUMB" hash "${FILES[@]}" >"$T/plain"
	sha256sum --quiet -c "$T/plain"
}

@test "--check: plain lists of other tools, the algorithm guessed from the length" {
	for t in md5 sha1 sha224 sha384 sha512; do
		"${t}sum" "${FILES[@]}" >"$T/list"
		same_as "${t}sum" "" -c "$T/list"
		same_as "${t}sum" "$t" -c "$T/list"
	done
	# blake2b512 is 128 digits like sha512: it has to be named.
	b2sum "${FILES[@]}" >"$T/list"
	same_as b2sum blake2b512 -c "$T/list"
	run "$PLUMB" hash -c "$T/list"
	[ "$status" -eq 1 ]
}

@test "--check: mixed algorithms in one BSD list; -a restricts which are accepted" {
	{
		md5sum --tag f1
		sha1sum --tag f4095
		b2sum --tag f4096
		sha256sum --tag big
		openssl dgst -sha3-512 f4097
	} >"$T/list"
	run "$PLUMB" hash -c "$T/list"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s: OK\n' f1 f4095 f4096 big f4097)" ]
	# With -a, lines of other algorithms are improperly formatted.
	"$PLUMB" hash -a sha256 -c --warn "$T/list" >"$T/out" 2>"$T/err"
	[ "$(cat "$T/out")" = "big: OK" ]
	grep -q "^plumb hash: $T/list: 1: improperly formatted SHA256 checksum line$" "$T/err"
	grep -q "^plumb hash: WARNING: 4 lines are improperly formatted$" "$T/err"
	run "$PLUMB" hash -a sha256 --strict -c "$T/list"
	[ "$status" -eq 1 ]
}

@test "--check: a modified file is FAILED, exit 1, with sha256sum's warning" {
	cd "$T"
	cp "$D/f4097" "$D/f1" .
	sha256sum f4097 f1 >list
	sha256sum --tag f4097 f1 >tagged
	printf x >>f1
	same_as sha256sum sha256 -c list
	same_as sha256sum sha256 -c tagged
	printf y >>f4097
	same_as sha256sum sha256 -c list
	[ "$(cat "$T/got.out")" = "$(printf 'f4097: FAILED\nf1: FAILED\n')" ]
	grep -q 'WARNING: 2 computed checksums did NOT match' "$T/got.err"
}

@test "--check: a missing file is 'FAILED open or read', exit 1" {
	cd "$T"
	cp "$D/f1" "$D/f0" .
	sha256sum f1 f0 >list
	rm f0
	same_as sha256sum sha256 -c list
	grep -q '^f0: FAILED open or read$' "$T/got.out"
	grep -q '^plumb hash: f0: No such file or directory$' "$T/got.err"
	grep -q 'WARNING: 1 listed file could not be read' "$T/got.err"
}

@test "--check --ignore-missing: missing files skipped; none verified fails" {
	cd "$T"
	cp "$D/f1" "$D/f0" .
	sha256sum f1 f0 >list
	rm f0
	same_as sha256sum sha256 -c --ignore-missing list
	[ "$(cat "$T/got.out")" = "f1: OK" ]
	rm f1
	same_as sha256sum sha256 -c --ignore-missing list
	grep -q 'list: no file was verified' "$T/got.err"
}

@test "--check --quiet prints only failures; --status prints nothing" {
	cd "$T"
	cp "$D/f1" "$D/f0" "$D/f4095" .
	sha256sum f1 f0 f4095 >list
	same_as sha256sum sha256 -c --quiet list
	[ ! -s "$T/got.out" ]
	same_as sha256sum sha256 -c --status list
	printf z >>f0
	same_as sha256sum sha256 -c --quiet list
	[ "$(cat "$T/got.out")" = "f0: FAILED" ]
	same_as sha256sum sha256 -c --status list
	[ ! -s "$T/got.out" ] && [ ! -s "$T/got.err" ]
	# The last of --quiet, --status, --warn wins, as in coreutils.
	same_as sha256sum sha256 -c --status --quiet list
	same_as sha256sum sha256 -c --quiet --warn list
}

@test "--check --strict and --warn on improperly formatted lines" {
	cd "$T"
	cp "$D/f1" .
	{
		sha256sum f1
		echo 'this is no checksum'
		echo '0123  too short'
	} >list
	same_as sha256sum sha256 -c list
	same_as sha256sum sha256 -c --strict list
	same_as sha256sum sha256 -c --warn list
	same_as sha256sum sha256 -c --warn --strict list
	grep -q 'list: 2: improperly formatted SHA256 checksum line' "$T/got.err"
	grep -q 'WARNING: 2 lines are improperly formatted' "$T/got.err"
}

@test "--check: escaped names from sha256sum lists, plain and tagged" {
	cd "$T"
	printf a >'back\slash'
	printf b >'new
line'
	printf c >'both\
'
	sha256sum 'back\slash' 'new
line' 'both\
' >"$T/list.plain"
	sha256sum --tag 'back\slash' 'new
line' 'both\
' >"$T/list.tag"
	same_as sha256sum sha256 -c "$T/list.plain"
	same_as sha256sum sha256 -c "$T/list.tag"
	printf X >'new
line'
	same_as sha256sum sha256 -c "$T/list.tag"
}

@test "--check: list on standard input; '-' in it is not a file" {
	sha256sum f1 f4096 >"$T/list"
	IN=$T/list same_as sha256sum sha256 -c
	IN=$T/list same_as sha256sum sha256 -c -
	[ "$(cat "$T/got.out")" = "$(printf 'f1: OK\nf4096: OK\n')" ]
	sha256sum - <f1 >"$T/dash"
	IN=$T/dash same_as sha256sum sha256 -c
	grep -q "^plumb hash: 'standard input': no properly formatted" "$T/got.err"
	# From a file list, '-' is standard input.
	IN=f1 same_as sha256sum sha256 -c "$T/dash"
	[ "$(cat "$T/got.out")" = "-: OK" ]
}

@test "--check: comments, blank lines, CRLF, uppercase, leading blanks, reversed form" {
	cd "$T"
	cp "$D/f1" "$D/f4095" .
	h1=$(sha256sum f1 | cut -d' ' -f1)
	h2=$(sha256sum f4095 | cut -d' ' -f1)
	printf '# a comment\n\n%s  f1\r\n  %s *f4095\n' "${h1^^}" "$h2" >list
	same_as sha256sum sha256 -c list
	printf '%s f1\n%s f4095\n' "$h1" "$h2" >reversed
	same_as sha256sum sha256 -c reversed
	printf '%s f1\n%s  f4095\n' "$h1" "$h2" >mixed
	same_as sha256sum sha256 -c mixed
	printf 'SHA256(f1)= %s\nSHA256 (f4095)=%s\n' "$h1" "$h2" >openssl
	same_as sha256sum sha256 -c openssl
	printf 'SHA256 (f1) = %s \n' "$h1" >trailing
	same_as sha256sum sha256 -c trailing
	printf '  \n%s  f1' "$h1" >blank
	same_as sha256sum sha256 -c blank
}

@test "--check: a malformed list names the list, exits 1, prints nothing on stdout" {
	printf 'not a checksum list\nat all\n' >"$T/bad"
	fails_cleanly "^plumb hash: $T/bad: no properly formatted checksum lines found$" -c "$T/bad"
	same_as sha256sum sha256 -c "$T/bad"
	: >"$T/empty"
	fails_cleanly "$T/empty: no properly formatted" -c "$T/empty"
	printf 'MD5 (f1) = 0123\n' >"$T/short"
	fails_cleanly "$T/short: no properly formatted" -c "$T/short"
}

@test "--check: a list that is missing or a directory" {
	fails_cleanly "^plumb hash: $T/nope: No such file or directory$" -c "$T/nope"
	mkdir "$T/dir"
	fails_cleanly "^plumb hash: $T/dir: Is a directory$" -c "$T/dir"
	# The other lists are still checked.
	sha256sum f1 >"$T/list"
	run "$PLUMB" hash -c "$T/nope" "$T/list"
	[ "$status" -eq 1 ]
	[[ "$output" == *"f1: OK"* ]]
}

# ---- Errors ----

@test "a missing file: named on stderr, no digest line, exit 1; the others are printed" {
	fails_cleanly '^plumb hash: nope: No such file or directory$' nope
	same_as sha256sum sha256 f1 nope f4095
	[ "$(cat "$T/got.out")" = "$(sha256sum f1 f4095)" ]
}

@test "names in messages are quoted as coreutils quotes them" {
	cd "$T"
	for n in 'sp ace' "it's" 'a"b' 'tab	x' 'c:d' 'back\slash' '~home' 'a~b' '#x' 'a=b' \
		'a{b}' 'a,b' 'a^b' 'a!b' 'a*b' "it's\$" 'new
line' "$(printf 'a\001b')" "$(printf '\377')" 'é' ''; do
		same_as sha256sum sha256 -- "$n"
	done
	printf 'SHA256 (it'"'"'s gone) = %s\n' "$(printf '%064d' 0)" >"it's list"
	same_as sha256sum sha256 -c "it's list"
}

@test "a directory: 'plumb hash: DIR: Is a directory'" {
	mkdir "$T/dir"
	fails_cleanly "^plumb hash: $T/dir: Is a directory$" "$T/dir"
	fails_cleanly "^plumb hash: $T/dir: Is a directory$" -a md5 -a sha1 "$T/dir"
	same_as sha256sum sha256 f1 "$T/dir"
}

@test "an unreadable file (run as nobody): Permission denied, no digest line" {
	command -v setpriv || skip "setpriv (util-linux) is not installed"
	[ "$(id -u)" -eq 0 ] || skip "needs root to become nobody"
	dir=$(mktemp -d /tmp/plumb-hash.XXXXXX)
	chmod 755 "$dir"
	printf secret >"$dir/locked"
	chmod 000 "$dir/locked"
	printf open >"$dir/open"
	chmod 644 "$dir/open"
	status=0
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$PLUMB" hash "$dir/locked" "$dir/open" >"$T/out" 2>"$T/err" || status=$?
	cat "$T/err"
	[ "$status" -eq 1 ]
	grep -q "^plumb hash: $dir/locked: Permission denied$" "$T/err"
	[ "$(cat "$T/out")" = "$(sha256sum "$dir/open")" ]
	rm -rf "$dir"
}

@test "a read that fails midway (/proc/self/mem): an error, no digest line" {
	fails_cleanly '^plumb hash: /proc/self/mem: Input/output error$' /proc/self/mem
	fails_cleanly '/proc/self/mem: Input/output error' -a md5,sha1 /proc/self/mem
}

@test "an unknown algorithm: exit 1, the known ones listed, nothing hashed" {
	fails_cleanly "^plumb hash: unknown algorithm 'sha999'; known: sha256, sha1, md5, " \
		-a sha999 f1
	grep -q 'blake2s256' "$T/err"
	fails_cleanly "unknown algorithm 'nope'" -a md5,nope f1
	fails_cleanly "unknown algorithm ''" -a '' f1
}

@test "bad options: exit 1 and a hint, as coreutils" {
	same_as sha256sum sha256 --bogus f1
	same_as sha256sum sha256 -Q f1
	fails_cleanly "option requires an argument -- 'a'" -a
	fails_cleanly "Try 'plumb hash --help' for more information." --algorithm
}

@test "options that need --check, or refuse it, as coreutils" {
	for o in --quiet --status --strict --warn --ignore-missing; do
		same_as sha256sum sha256 "$o" f1
	done
	sha256sum f1 >"$T/list"
	same_as sha256sum sha256 --tag -c "$T/list"
	same_as sha256sum sha256 -z -c "$T/list"
	same_as sha256sum sha256 -b -c "$T/list"
	same_as sha256sum sha256 --tag -t f1
}

@test "--help prints the whole usage; --list the algorithms" {
	run "$PLUMB" hash --help
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Usage: plumb hash [OPTION]... [FILE]..." ]
	for o in --algorithm --check --tag --zero --ignore-missing --quiet --status --strict --warn; do
		[[ "$output" == *"$o"* ]]
	done
	run "$PLUMB" hash --list
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 10 ]
	[ "${lines[0]}" = sha256 ]
}

@test "a write error on stdout is reported and fails" {
	status=0
	"$PLUMB" hash f1 >/dev/full 2>"$T/err" || status=$?
	[ "$status" -eq 1 ]
	grep -q '^plumb hash: write error: No space left on device$' "$T/err"
}
