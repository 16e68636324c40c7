// Command auditverify checks a Vox audit export without Vox: it is the
// independent implementation of RFC 6962 Merkle trees and C2SP signed notes
// that the test command runs against `vox audit export`, built only on Go's
// golang.org/x/mod/sumdb/tlog and golang.org/x/mod/sumdb/note.
//
// # Export layout (one log: one tenant, or the installation)
//
//	DIR/verifier.key    one line: <name>+<hex8 key hash>+<base64(0x01 || Ed25519 public key)>
//	                    (the note verifier key that `vox audit keygen` prints)
//	DIR/checkpoint      the latest checkpoint: a C2SP signed note whose body is
//	                    "<origin>\n<size>\n<base64 root>\n" (C2SP tlog-checkpoint;
//	                    extension lines after the root are allowed and ignored)
//	DIR/records.ndjson  one JSON object per line, in index order 0, 1, 2, ...:
//	                    {"index": N, "data": "<standard base64 of the exact leaf bytes>", ...}
//	                    other fields are ignored; "data" is what the leaf hash covers
//	DIR/proofs.ndjson   optional; one line per record covered by the checkpoint,
//	                    in index order 0 .. size-1:
//	                    {"index": N, "tree_size": S, "proof": ["<base64 hash>", ...]}
//	                    the RFC 6962 inclusion proof of record N in the tree of
//	                    size S, which must be the checkpoint's size
//
// Leaf hash SHA-256(0x00 || data), interior hash SHA-256(0x01 || left || right),
// the root of the empty tree SHA-256("") (RFC 6962, section 2.1).
// records.ndjson may hold records beyond the checkpoint's size (written after
// it was signed); they must still be numbered in order, and are reported as
// not covered.
//
// # Usage
//
//	go -C tests/interop/auditverify run . -dir DIR [-old SAVED_CHECKPOINT] [-origin ORIGIN]
//
// Relative paths are relative to the working directory (with `go -C`, this
// module's directory): pass absolute ones. `go run` turns every non-zero exit
// into exit 1 (and prints "exit status N" on stderr); a caller that needs the
// exact code builds the binary first:
//
//	go -C tests/interop/auditverify build -o "$TMP/auditverify" .
//
// It checks, in this order: the checkpoint's signature with verifier.key
// (note.Open); the checkpoint body; the origin, if -origin is given; that
// the record indices run 0, 1, 2, ... with no gap or duplicate and that
// there are at least size records; every inclusion proof against the signed
// root, if proofs.ndjson exists; the root rebuilt from the records
// (tlog.StoredHashes, tlog.TreeHash) against the signed root; and with -old,
// a checkpoint saved earlier: signed by the same key, the same origin, a
// size no larger, and the root of the first old-size records equal to its
// root (so a fork or a rewrite of history fails).
//
// # Output
//
// Exactly one line on stdout:
//
//	OK <origin> size=<n> root=<base64 root>                    exit 0
//	FAIL index <N>: <what is wrong>                            exit 1
//	FAIL checkpoint <path>: <what is wrong>                    exit 1
//	FAIL old-checkpoint <path>: <what is wrong>                exit 1
//	FAIL file <path>: <what is wrong>                          exit 1
//
// "index N" is the first record index at which the export diverges from
// what the checkpoint signs. "checkpoint" is DIR/checkpoint (a bad
// signature, a malformed body, an unexpected origin, or a root the records
// do not give when there are no proofs to name the index); "old-checkpoint"
// is the -old file; "file" is an unreadable or malformed file that belongs
// to no index (verifier.key, I/O errors). Usage errors print to stderr and
// exit 2. Informational notes ("note: ...": records not covered by the
// checkpoint, no proofs.ndjson, an origin that differs from the key name)
// go to stderr.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line flags.
type options struct {
	dir    string // the export directory
	old    string // a checkpoint saved earlier ("" = none)
	origin string // the origin the checkpoint must have ("" = any)
}

// run is the whole command: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("auditverify", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var o options
	fl.StringVar(&o.dir, "dir", "", "the export `directory` (verifier.key, checkpoint, records.ndjson, optional proofs.ndjson)")
	fl.StringVar(&o.old, "old", "", "a checkpoint `file` saved earlier; the export must extend it")
	fl.StringVar(&o.origin, "origin", "", "the `origin` the checkpoint must have")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if o.dir == "" || fl.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: auditverify -dir DIR [-old SAVED_CHECKPOINT] [-origin ORIGIN]")
		return 2
	}
	res, err := verify(o)
	for _, n := range res.notes {
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	if err != nil {
		fmt.Fprintf(stdout, "FAIL %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "OK %s size=%d root=%s\n", res.cp.Origin, res.cp.Size, res.cp.Root)
	return 0
}

// failure is why an export does not verify: the FAIL line without "FAIL ".
type failure struct {
	kind    string // "index", "checkpoint", "old-checkpoint" or "file"
	subject string // the index, or the file's path
	msg     string
}

func (f *failure) Error() string { return f.kind + " " + f.subject + ": " + f.msg }

func indexFail(i int64, format string, args ...any) error {
	return &failure{"index", strconv.FormatInt(i, 10), fmt.Sprintf(format, args...)}
}

func fileFail(kind, path string, format string, args ...any) error {
	return &failure{kind, path, fmt.Sprintf(format, args...)}
}

// ioMessage drops the path from an *fs.PathError (the FAIL line names it).
func ioMessage(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// result is what a verification found.
type result struct {
	cp    checkpoint
	notes []string
}

func verify(o options) (result, error) {
	var res result
	keyPath := filepath.Join(o.dir, "verifier.key")
	cpPath := filepath.Join(o.dir, "checkpoint")
	recordsPath := filepath.Join(o.dir, "records.ndjson")
	proofsPath := filepath.Join(o.dir, "proofs.ndjson")

	v, err := readVerifier(keyPath)
	if err != nil {
		return res, err
	}
	cp, err := openCheckpoint(cpPath, v)
	if err != nil {
		return res, fileFail("checkpoint", cpPath, "%s", err)
	}
	if o.origin != "" && cp.Origin != o.origin {
		return res, fileFail("checkpoint", cpPath, "origin %q, expected %q", cp.Origin, o.origin)
	}
	if cp.Origin != v.Name() {
		// C2SP tlog-checkpoint: the key name SHOULD be the origin. Say so, do not fail.
		res.notes = append(res.notes, fmt.Sprintf("origin %q differs from the key name %q", cp.Origin, v.Name()))
	}

	var store hashStore
	n, err := readRecords(recordsPath, &store)
	if err != nil {
		return res, err
	}
	if n < cp.Size {
		return res, indexFail(n, "record missing: records.ndjson ends after %d records, the checkpoint's size is %d", n, cp.Size)
	}

	// Inclusion proofs first: they name the first record that does not match the signed root.
	switch present, err := checkProofs(proofsPath, cp, store); {
	case err != nil:
		return res, err
	case !present:
		res.notes = append(res.notes, "no proofs.ndjson: inclusion proofs not checked")
	}

	root, err := tlog.TreeHash(cp.Size, &store)
	if err != nil {
		return res, fileFail("checkpoint", cpPath, "rebuilding the tree of size %d: %v", cp.Size, err)
	}
	if root != cp.Root {
		return res, fileFail("checkpoint", cpPath, "root mismatch at size %d: the checkpoint signs %s, the records give %s (a record was changed, added, removed or reordered)", cp.Size, cp.Root, root)
	}

	if o.old != "" {
		if err := checkOld(o.old, v, cp, &store); err != nil {
			return res, err
		}
	}

	if extra := n - cp.Size; extra > 0 {
		res.notes = append(res.notes, fmt.Sprintf("%d records (indices %d..%d) are beyond the checkpoint's size %d and not covered by it", extra, cp.Size, n-1, cp.Size))
	}
	res.cp = cp
	return res, nil
}

func readVerifier(path string) (note.Verifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fileFail("file", path, "%s", ioMessage(err))
	}
	line := strings.TrimSuffix(string(b), "\n")
	if strings.ContainsAny(line, " \t\r\n") {
		return nil, fileFail("file", path, "not one line holding a verifier key")
	}
	v, err := note.NewVerifier(line)
	if err != nil {
		return nil, fileFail("file", path, "malformed verifier key: %v", err)
	}
	return v, nil
}

// checkpoint is the body of a C2SP tlog-checkpoint.
type checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// openCheckpoint reads a signed note, checks its signature by v and parses its body.
// Errors do not name the path: the caller knows which checkpoint it is.
func openCheckpoint(path string, v note.Verifier) (checkpoint, error) {
	msg, err := os.ReadFile(path)
	if err != nil {
		return checkpoint{}, errors.New(ioMessage(err))
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return checkpoint{}, fmt.Errorf("not signed by the verifier key %s+%08x (%v)", v.Name(), v.KeyHash(), err)
		}
		return checkpoint{}, fmt.Errorf("signed note: %v", err)
	}
	return parseCheckpoint(n.Text)
}

// parseCheckpoint parses a C2SP tlog-checkpoint body. tlog.ParseTree does
// not: it parses the go.sum database's format.
func parseCheckpoint(text string) (checkpoint, error) {
	lines := strings.Split(text, "\n") // the text ends with "\n": the last element is ""
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return checkpoint{}, errors.New("malformed checkpoint body: want origin, size and root lines")
	}
	if lines[0] == "" {
		return checkpoint{}, errors.New("malformed checkpoint body: empty origin")
	}
	for _, ext := range lines[3 : len(lines)-1] {
		if ext == "" {
			return checkpoint{}, errors.New("malformed checkpoint body: empty extension line")
		}
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return checkpoint{}, fmt.Errorf("malformed checkpoint size %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("malformed checkpoint root %q", lines[2])
	}
	return checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// hashStore holds a tree's hashes in tlog's stored-hash order
// (tlog.StoredHashIndex): record i's leaf hash is at StoredHashIndex(0, i).
type hashStore []tlog.Hash

func (s *hashStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(*s)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = (*s)[x]
	}
	return out, nil
}

// lines calls f with each line of the file at path (without its "\n") and
// its 0-based number. It reports whether the file exists.
func lines(path string, f func(i int64, line []byte) error) (bool, error) {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fileFail("file", path, "%s", ioMessage(err))
	}
	defer file.Close()
	r := bufio.NewReaderSize(file, 1<<20)
	for i := int64(0); ; i++ {
		line, err := r.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return true, fileFail("file", path, "%s", ioMessage(err))
		}
		if len(line) == 0 && err == io.EOF {
			return true, nil
		}
		if err := f(i, bytes.TrimSuffix(line, []byte("\n"))); err != nil {
			return true, err
		}
		if err == io.EOF {
			return true, nil
		}
	}
}

// readRecords checks that records.ndjson numbers its records 0, 1, 2, ...
// and appends their stored hashes to store. It returns the number of records.
func readRecords(path string, store *hashStore) (int64, error) {
	var n int64
	exists, err := lines(path, func(i int64, line []byte) error {
		var r struct {
			Index *int64  `json:"index"`
			Data  *string `json:"data"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return indexFail(i, "records.ndjson line %d: %v", i+1, err)
		}
		if r.Index == nil || r.Data == nil {
			return indexFail(i, "records.ndjson line %d: want the fields \"index\" and \"data\"", i+1)
		}
		switch idx := *r.Index; {
		case idx > i:
			return indexFail(i, "record missing or out of order: records.ndjson line %d has index %d", i+1, idx)
		case idx < i:
			return indexFail(i, "record duplicated or out of order: records.ndjson line %d has index %d", i+1, idx)
		}
		data, err := base64.StdEncoding.Strict().DecodeString(*r.Data)
		if err != nil {
			return indexFail(i, "records.ndjson line %d: data is not standard base64: %v", i+1, err)
		}
		hs, err := tlog.StoredHashes(i, data, store)
		if err != nil {
			return indexFail(i, "storing the leaf: %v", err)
		}
		*store = append(*store, hs...)
		n = i + 1
		return nil
	})
	if err == nil && !exists {
		err = fileFail("file", path, "missing")
	}
	return n, err
}

// checkProofs checks proofs.ndjson, if it exists: one inclusion proof per
// record covered by cp, in index order, each leading from the record's
// leaf hash to cp's root.
func checkProofs(path string, cp checkpoint, store hashStore) (bool, error) {
	var n int64
	exists, err := lines(path, func(i int64, line []byte) error {
		if i >= cp.Size {
			return indexFail(i, "proofs.ndjson line %d is beyond the checkpoint's size %d", i+1, cp.Size)
		}
		var p struct {
			Index    *int64   `json:"index"`
			TreeSize *int64   `json:"tree_size"`
			Proof    []string `json:"proof"`
		}
		if err := json.Unmarshal(line, &p); err != nil {
			return indexFail(i, "proofs.ndjson line %d: %v", i+1, err)
		}
		if p.Index == nil || p.TreeSize == nil {
			return indexFail(i, "proofs.ndjson line %d: want the fields \"index\", \"tree_size\" and \"proof\"", i+1)
		}
		if *p.Index != i {
			return indexFail(i, "proofs.ndjson line %d has index %d", i+1, *p.Index)
		}
		if *p.TreeSize != cp.Size {
			return indexFail(i, "inclusion proof for tree size %d, the checkpoint's size is %d", *p.TreeSize, cp.Size)
		}
		proof := make(tlog.RecordProof, len(p.Proof))
		for k, s := range p.Proof {
			h, err := tlog.ParseHash(s)
			if err != nil {
				return indexFail(i, "inclusion proof hash %d: %v", k, err)
			}
			proof[k] = h
		}
		// verify has checked that there are at least cp.Size records, so i's leaf is stored.
		leaf := store[tlog.StoredHashIndex(0, i)]
		if err := tlog.CheckRecord(proof, cp.Size, cp.Root, i, leaf); err != nil {
			return indexFail(i, "the record and its inclusion proof do not lead to the signed root (%v)", err)
		}
		n = i + 1
		return nil
	})
	if err == nil && exists && n < cp.Size {
		err = indexFail(n, "no inclusion proof: proofs.ndjson ends after %d proofs, the checkpoint's size is %d", n, cp.Size)
	}
	return exists, err
}

// checkOld checks that the export extends the checkpoint saved at path.
func checkOld(path string, v note.Verifier, cp checkpoint, store *hashStore) error {
	old, err := openCheckpoint(path, v)
	if err != nil {
		return fileFail("old-checkpoint", path, "%s", err)
	}
	if old.Origin != cp.Origin {
		return fileFail("old-checkpoint", path, "origin %q, the export's checkpoint has %q", old.Origin, cp.Origin)
	}
	if old.Size > cp.Size {
		return fileFail("old-checkpoint", path, "size %d is larger than the export's checkpoint size %d: the log was truncated or rolled back", old.Size, cp.Size)
	}
	root, err := tlog.TreeHash(old.Size, store)
	if err != nil {
		return fileFail("old-checkpoint", path, "rebuilding the tree of size %d: %v", old.Size, err)
	}
	if root != old.Root {
		return fileFail("old-checkpoint", path, "fork or rewritten history: it signs root %s at size %d, the export's records give %s", old.Root, old.Size, root)
	}
	return nil
}
