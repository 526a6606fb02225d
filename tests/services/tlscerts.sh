#!/usr/bin/env bash
# tlscerts.sh DIR - throwaway TLS material for the HTTPS tests, made with
# openssl in DIR (which must exist):
#   ca.pem, ca.key          a CA of its own (EC P-256, valid 2 days)
#   server.pem, server.key  a server certificate for 127.0.0.1 and localhost
#                           (subjectAltName), signed by that CA
#   other-ca.pem            another CA, which did not sign server.pem: a
#                           client that trusts only it must refuse the server
#   localhost.pem, .key     a certificate signed by ca.pem for the name
#                           "localhost" only: wrong for https://127.0.0.1
# Nothing outside DIR is read or written; the keys never leave it.  Prints
# nothing on success; openssl's words on stderr and exit 1 on failure.
set -euo pipefail
dir=${1:?usage: tlscerts.sh DIR}
cd "$dir"

quiet() { # runs openssl quietly, showing its output only when it fails
	local out
	if ! out=$(openssl "$@" 2>&1); then
		echo "tlscerts.sh: openssl $1 failed:" >&2
		echo "$out" >&2
		exit 1
	fi
}

key() { quiet genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

ca() { # ca NAME SUBJECT
	key "$1.key"
	quiet req -x509 -new -key "$1.key" -sha256 -days 2 -subj "$2" -out "$1.pem" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign"
}

leaf() { # leaf NAME SUBJECT SAN: a certificate signed by ca.pem
	key "$1.key"
	quiet req -new -key "$1.key" -subj "$2" -out "$1.csr"
	printf '%s\n' "subjectAltName=$3" "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$1.ext"
	quiet x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 \
		-days 2 -extfile "$1.ext" -out "$1.pem"
	rm -f "$1.csr" "$1.ext"
}

ca ca "/CN=plumb test CA"
ca other-ca "/CN=plumb other test CA"
leaf server "/CN=127.0.0.1" "IP:127.0.0.1,DNS:localhost"
leaf localhost "/CN=localhost" "DNS:localhost"
rm -f ca.srl
