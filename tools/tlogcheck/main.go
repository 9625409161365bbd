// tlogcheck verifies auditkit's Merkle proofs with Go's golang.org/x/mod/sumdb/tlog, and its
// signed checkpoints with golang.org/x/mod/sumdb/note: implementations nobody on the auditkit
// team wrote. It reads one case per line on stdin:
//
//	I <size> <index> <root> <leaf> <hash>...   inclusion of leaf <index> in tree <size>
//	C <old> <new> <old root> <new root> <hash>...   tree <new> extends tree <old>
//	N <vkey> <size> <root> <note>   note.Open verifies <note> with verifier key <vkey>, and
//	                                its text is a C2SP checkpoint of tree <size> with <root>
//
// hashes and notes in standard base64, <vkey> in the note package's "name+hash+keydata" form.
// A line starting with "!" must fail to verify; a "!N" line ends with the reason it must
// fail for, one of:
//
//	vkey        note.NewVerifier refuses <vkey>
//	malformed   note.Open: the note is malformed
//	unverified  note.Open: no signature by a known key (note.UnverifiedNoteError)
//	invalid     note.Open: a signature by the known key does not verify (note.InvalidSignatureError)
//	body        the note verifies, but its text is not a checkpoint of <size> and <root>
//
// It prints the number of cases checked and exits 1 at the first case whose outcome is not
// the expected one (2 for a line it cannot read).
package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func usage(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", args...)
	os.Exit(2)
}

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		usage("%q is not a base64 hash", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func number(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		usage("%q is not a number", s)
	}
	return n
}

// failure is why a note case failed: the reasons a "!N" line names.
type failure struct {
	reason string
	err    error
}

func (f *failure) Error() string { return f.reason + ": " + f.err.Error() }

// checkpoint checks that text is a C2SP tlog-checkpoint body ("origin\nsize\nroot\n", then
// extension lines) of a tree of size with root.
func checkpoint(text string, size int64, root tlog.Hash) error {
	if !strings.HasSuffix(text, "\n") {
		return errors.New("the text does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return fmt.Errorf("%d lines, a checkpoint has at least 3", len(lines))
	}
	if lines[0] == "" {
		return errors.New("empty origin line")
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return fmt.Errorf("size %q is not a decimal number without leading zeros", lines[1])
	}
	if n != size {
		return fmt.Errorf("size %d, expected %d", n, size)
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize || base64.StdEncoding.EncodeToString(h) != lines[2] {
		return fmt.Errorf("root %q is not a base64 hash", lines[2])
	}
	var got tlog.Hash
	copy(got[:], h)
	if got != root {
		return fmt.Errorf("root %s, expected %s", got, root)
	}
	for _, e := range lines[3:] {
		if e == "" {
			return errors.New("empty extension line")
		}
	}
	return nil
}

// open verifies msg with vkey and checks that its text is a checkpoint of size and root.
func open(vkey string, size int64, root tlog.Hash, msg []byte) error {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return &failure{"vkey", err}
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return &failure{"unverified", err}
		case errors.As(err, &invalid):
			return &failure{"invalid", err}
		case err.Error() == "malformed note":
			return &failure{"malformed", err}
		}
		return &failure{"other", err}
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != v.Name() || n.Sigs[0].Hash != v.KeyHash() {
		return &failure{"other", fmt.Errorf("verified signatures %v, expected one by %s+%08x", n.Sigs, v.Name(), v.KeyHash())}
	}
	if err := checkpoint(n.Text, size, root); err != nil {
		return &failure{"body", err}
	}
	return nil
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
			usage("short line %q", line)
		}
		var err error
		reason := ""
		switch f[0] {
		case "I", "C":
			var proof []tlog.Hash
			for _, p := range f[5:] {
				proof = append(proof, hash(p))
			}
			if f[0] == "I" {
				err = tlog.CheckRecord(tlog.RecordProof(proof), number(f[1]), hash(f[3]), number(f[2]), hash(f[4]))
			} else {
				err = tlog.CheckTree(tlog.TreeProof(proof), number(f[2]), hash(f[4]), number(f[1]), hash(f[3]))
			}
		case "N":
			want := 5
			if mustFail {
				want = 6
				reason = f[len(f)-1]
			}
			if len(f) != want {
				usage("an N line has %d fields (a !N line ends with its reason): %q", want, line)
			}
			msg, e := base64.StdEncoding.DecodeString(f[4])
			if e != nil {
				usage("note %q is not base64", f[4])
			}
			err = open(f[1], number(f[2]), hash(f[3]), msg)
		default:
			usage("unknown case %q", f[0])
		}
		if (err == nil) == mustFail {
			fmt.Printf("tlogcheck: %q: expected %s, got %v\n", line, map[bool]string{true: "a failure", false: "success"}[mustFail], err)
			os.Exit(1)
		}
		if fail, ok := err.(*failure); ok && fail.reason != reason {
			fmt.Printf("tlogcheck: %q: expected a failure for %s, got %v\n", line, reason, err)
			os.Exit(1)
		}
		checked++
	}
	if err := in.Err(); err != nil {
		usage("reading stdin: %v", err)
	}
	fmt.Printf("tlogcheck: %d cases checked\n", checked)
}
