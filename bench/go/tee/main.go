// Command tee is the Go peer of bench_tee: io.TeeReader over a 1 GiB
// bytes.Reader into crypto/sha256, read to the end with a 32 KiB buffer (or
// -b SIZE) into nothing.  It prints the rate and the digest the same way
// bench_tee does ("go N GB/s", "go sha256 HEX"), so bench/tee.sh can put the
// three side by side and check that all computed the same digest.
//
// Standard library only, so it builds offline.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// fill writes the xorshift64 pattern bench_tee.c uses, so the digests match.
func fill(buf []byte) {
	x := uint64(0x9e3779b97f4a7c15)
	i := 0
	for ; i+8 <= len(buf); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(buf[i:], x)
	}
	for ; i < len(buf); i++ {
		buf[i] = byte(i)
	}
}

func main() {
	bufSize := flag.Int("b", 32<<10, "read buffer size in bytes")
	mib := flag.Int("n", 1024, "data size in MiB")
	flag.Parse()

	data := make([]byte, *mib<<20)
	fill(data)
	h := sha256.New()
	tee := io.TeeReader(bytes.NewReader(data), h)
	buf := make([]byte, *bufSize)

	start := time.Now()
	for {
		_, err := tee.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tee:", err)
			os.Exit(1)
		}
	}
	took := time.Since(start).Seconds()
	fmt.Printf("go %.3f GB/s\n", float64(len(data))/1e9/took)
	fmt.Printf("go sha256 %x\n", h.Sum(nil))
}
