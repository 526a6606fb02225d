#!/usr/bin/env bats
# The plumb command itself: help, version, dispatch, bad invocations.

@test "plumb --help lists the commands and exits 0" {
	run "$PLUMB" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"Usage: plumb COMMAND"* ]]
	[[ "$output" == *"hash"* ]]
}

@test "plumb --version prints the version" {
	run "$PLUMB" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^plumb\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "plumb with no arguments prints usage on stderr and exits 2" {
	run --separate-stderr "$PLUMB"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"Usage: plumb"* ]]
}

@test "an unknown command is named and exits 2" {
	run --separate-stderr "$PLUMB" frobnicate
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"unknown command 'frobnicate'"* ]]
}
