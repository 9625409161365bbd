// tlogcheck verifies auditkit's Merkle proofs with Go's golang.org/x/mod/sumdb/tlog, an
// implementation nobody on the auditkit team wrote. It reads one case per line on stdin:
//
//	I <size> <index> <root> <leaf> <hash>...   inclusion of leaf <index> in tree <size>
//	C <old> <new> <old root> <new root> <hash>...   tree <new> extends tree <old>
//
// hashes in standard base64. A line starting with "!" must fail to verify. It prints the
// number of cases checked and exits 1 at the first case whose outcome is not the expected one.
package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		fmt.Fprintf(os.Stderr, "tlogcheck: %q is not a base64 hash\n", s)
		os.Exit(2)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func number(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlogcheck: %q is not a number\n", s)
		os.Exit(2)
	}
	return n
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	checked := 0
	for in.Scan() {
		line := in.Text()
		mustFail := strings.HasPrefix(line, "!")
		f := strings.Fields(strings.TrimPrefix(line, "!"))
		if len(f) < 5 {
			fmt.Fprintf(os.Stderr, "tlogcheck: short line %q\n", line)
			os.Exit(2)
		}
		var proof []tlog.Hash
		for _, p := range f[5:] {
			proof = append(proof, hash(p))
		}
		var err error
		switch f[0] {
		case "I":
			err = tlog.CheckRecord(tlog.RecordProof(proof), number(f[1]), hash(f[3]), number(f[2]), hash(f[4]))
		case "C":
			err = tlog.CheckTree(tlog.TreeProof(proof), number(f[2]), hash(f[4]), number(f[1]), hash(f[3]))
		default:
			fmt.Fprintf(os.Stderr, "tlogcheck: unknown case %q\n", f[0])
			os.Exit(2)
		}
		if (err == nil) == mustFail {
			fmt.Printf("tlogcheck: %q: expected %s, got %v\n", line, map[bool]string{true: "a failure", false: "success"}[mustFail], err)
			os.Exit(1)
		}
		checked++
	}
	fmt.Printf("tlogcheck: %d cases checked\n", checked)
}
