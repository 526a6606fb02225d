#!/usr/bin/env bats
# The notes' programs in C: each prints what the note's Go program prints.

setup() {
	# The HTTP tests need the sink server from tests/services.
	:
}

@test "examples/tee prints the note's chunks, total and SHA-256" {
	run "$EXAMPLES/tee"
	[ "$status" -eq 0 ]
	sum=$(printf '%s' 'Hello from this demo string.' | sha256sum | cut -d' ' -f1)
	expected="processing chunk: Hello fr
processing chunk: om this 
processing chunk: demo str
processing chunk: ing.
total bytes read: 28
Hashsum: $sum"
	[ "$output" = "$expected" ]
}

@test "examples/tee hashes any string it is given, in 8-byte chunks" {
	s='0123456789abcdefXYZ'
	run "$EXAMPLES/tee" "$s"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "processing chunk: 01234567" ]
	[ "${lines[2]}" = "processing chunk: XYZ" ]
	[ "${lines[3]}" = "total bytes read: 19" ]
	[ "${lines[4]}" = "Hashsum: $(printf '%s' "$s" | sha256sum | cut -d' ' -f1)" ]
}

@test "examples/pipe prints the two JSON-encoded records, one second apart" {
	start=$(date +%s%N)
	run "$EXAMPLES/pipe"
	end=$(date +%s%N)
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[0]}" = '"[\"list record 1\", \"list record 2\"]"' ]
	[ "${lines[1]}" = '"[\"list record 3\", \"list record 4\"]"' ]
	# the producer sleeps one second between the records
	[ $(((end - start) / 1000000)) -ge 1000 ]
}

@test "examples/pipe streams: the first record arrives before the second is written" {
	fifo="$BATS_TEST_TMPDIR/out"
	"$EXAMPLES/pipe" >"$fifo" &
	pid=$!
	sleep 0.5
	# half a second in, the first record is out and the second is not
	[ "$(wc -l <"$fifo")" -eq 1 ]
	wait "$pid"
	[ "$(wc -l <"$fifo")" -eq 2 ]
}

start_sink() {
	portfile="$BATS_TEST_TMPDIR/port"
	python3 "$SERVICES/httpsink.py" --port-file "$portfile" &
	SINK_PID=$!
	for _ in $(seq 100); do [ -s "$portfile" ] && break; sleep 0.05; done
	SINK_URL="http://127.0.0.1:$(cat "$portfile")"
}

teardown() {
	if [ -n "${SINK_PID:-}" ]; then kill "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; fi
}

@test "examples/pipe_http POSTs the records as one chunked body to a real server" {
	start_sink
	run --separate-stderr "$EXAMPLES/pipe_http" "$SINK_URL/anything"
	[ "$status" -eq 0 ]
	sent() { printf '%s\n' '"[\"list record 1\", \"list record 2\"]"' '"[\"list record 3\", \"list record 4\"]"'; }
	sum=$(sent | sha256sum | cut -d' ' -f1)
	[[ "$output" == *'"method": "POST"'* ]]
	[[ "$output" == *'"chunked": true'* ]]
	[[ "$output" == *"\"bytes\": $(sent | wc -c)"* ]]
	[[ "$output" == *"\"sha256\": \"$sum\""* ]]
	[[ "$stderr" == *"sending batch 1"* ]]
	[[ "$stderr" == *"sending batch 2"* ]]
}

@test "examples/pipe_http fails clearly when the server answers an error" {
	start_sink
	run --separate-stderr "$EXAMPLES/pipe_http" "$SINK_URL/status/503"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"POST $SINK_URL/status/503: HTTP 503 "* ]]
}

@test "examples/pipe_http fails clearly when nothing listens" {
	run --separate-stderr "$EXAMPLES/pipe_http" "http://127.0.0.1:1/"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"POST http://127.0.0.1:1/"* ]]
}
