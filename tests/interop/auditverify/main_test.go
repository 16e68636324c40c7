package main

// The tests make exports the way Vox must (Go's own note.Sign and tlog, not
// the verifier's code), check that they verify, then tamper with them the
// ways the audit issue lists and check that each fails, naming the index or
// the checkpoint.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const origin = "vox.example/audit/acme"

// key is a note signing key and its verifier key.
type key struct {
	signer note.Signer
	vkey   string
}

func newKey(t *testing.T, name string) key {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return key{s, vkey}
}

// randomRecords returns n records of random bytes (0 to 300 of them;
// record 0 is empty when n > 2, to cover empty leaves).
func randomRecords(n int, seed uint64) [][]byte {
	rng := mrand.New(mrand.NewPCG(seed, uint64(n)))
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, rng.IntN(301))
		for k := range b {
			b[k] = byte(rng.Uint32())
		}
		out[i] = b
	}
	if n > 2 {
		out[0] = []byte{}
	}
	return out
}

// tree is the generator's Merkle tree: tlog's stored hashes in memory.
type tree struct{ stored []tlog.Hash }

func buildTree(t *testing.T, records [][]byte) *tree {
	t.Helper()
	tr := &tree{}
	for i, data := range records {
		hs, err := tlog.StoredHashes(int64(i), data, tr)
		if err != nil {
			t.Fatal(err)
		}
		tr.stored = append(tr.stored, hs...)
	}
	return tr
}

func (tr *tree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = tr.stored[x]
	}
	return out, nil
}

func (tr *tree) root(t *testing.T, size int64) tlog.Hash {
	t.Helper()
	h, err := tlog.TreeHash(size, tr)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// signCheckpoint signs a C2SP checkpoint of the first size records.
func signCheckpoint(t *testing.T, k key, origin string, records [][]byte, size int64) []byte {
	t.Helper()
	root := buildTree(t, records).root(t, size)
	msg, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", origin, size, root)}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// fixture is an honest export on disk and what made it.
type fixture struct {
	dir     string
	key     key
	records [][]byte
	size    int64 // the checkpoint's size
}

// writeExport writes an export of records with a checkpoint of the first
// size of them, and inclusion proofs if proofs is set.
func writeExport(t *testing.T, k key, records [][]byte, size int64, proofs bool) fixture {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "verifier.key"), []byte(k.vkey+"\n"))
	write(t, filepath.Join(dir, "checkpoint"), signCheckpoint(t, k, origin, records, size))
	var recs bytes.Buffer
	for i, data := range records {
		// Other fields, as Vox writes them, are ignored.
		line, _ := json.Marshal(map[string]any{"index": i, "data": base64.StdEncoding.EncodeToString(data), "action": "login", "tenant": "acme"})
		recs.Write(append(line, '\n'))
	}
	write(t, filepath.Join(dir, "records.ndjson"), recs.Bytes())
	if proofs {
		tr := buildTree(t, records)
		var ps bytes.Buffer
		for i := int64(0); i < size; i++ {
			p, err := tlog.ProveRecord(size, i, tr)
			if err != nil {
				t.Fatal(err)
			}
			hs := make([]string, len(p))
			for k, h := range p {
				hs[k] = h.String()
			}
			line, _ := json.Marshal(map[string]any{"index": i, "tree_size": size, "proof": hs})
			ps.Write(append(line, '\n'))
		}
		write(t, filepath.Join(dir, "proofs.ndjson"), ps.Bytes())
	}
	return fixture{dir, k, records, size}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// editLines rewrites a file's lines.
func editLines(t *testing.T, path string, f func([]string) []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ls := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(b) == 0 {
		ls = nil
	}
	ls = f(ls)
	out := strings.Join(ls, "\n")
	if len(ls) > 0 {
		out += "\n"
	}
	write(t, path, []byte(out))
}

// setData replaces the data of records.ndjson's line i, keeping its index.
func setData(t *testing.T, dir string, i int, data []byte) {
	t.Helper()
	editLines(t, filepath.Join(dir, "records.ndjson"), func(ls []string) []string {
		var r map[string]any
		if err := json.Unmarshal([]byte(ls[i]), &r); err != nil {
			t.Fatal(err)
		}
		r["data"] = base64.StdEncoding.EncodeToString(data)
		b, _ := json.Marshal(r)
		ls[i] = string(b)
		return ls
	})
}

// verifyExport runs the command and returns its exit code, stdout and stderr.
func verifyExport(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// rfc6962Root is a from-scratch RFC 6962 Merkle tree hash, to pin the hash
// definitions Vox implements to what tlog computes.
func rfc6962Root(records [][]byte) [32]byte {
	switch len(records) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, records[0]...))
	}
	k := 1
	for k*2 < len(records) {
		k *= 2
	}
	l, r := rfc6962Root(records[:k]), rfc6962Root(records[k:])
	return sha256.Sum256(slices.Concat([]byte{1}, l[:], r[:]))
}

func TestHonestExportsVerify(t *testing.T) {
	k := newKey(t, origin)
	for _, n := range []int{0, 1, 2, 7, 1000} {
		records := randomRecords(n, 1)
		want := rfc6962Root(records)
		if got := buildTree(t, records).root(t, int64(n)); got != tlog.Hash(want) {
			t.Fatalf("n=%d: tlog root %s, RFC 6962 root %s", n, got, tlog.Hash(want))
		}
		wantLine := fmt.Sprintf("OK %s size=%d root=%s\n", origin, n, base64.StdEncoding.EncodeToString(want[:]))
		for _, proofs := range []bool{true, false} {
			t.Run(fmt.Sprintf("n=%d/proofs=%v", n, proofs), func(t *testing.T) {
				f := writeExport(t, k, records, int64(n), proofs)
				code, out, errOut := verifyExport(t, "-dir", f.dir, "-origin", origin)
				if code != 0 || out != wantLine {
					t.Fatalf("exit %d, stdout %q (stderr %q), want %q", code, out, errOut, wantLine)
				}
				if got := strings.Contains(errOut, "no proofs.ndjson"); got == proofs {
					t.Errorf("stderr %q: note about missing proofs = %v, want %v", errOut, got, !proofs)
				}
				// Every earlier checkpoint of the same log is extended by this one.
				for _, oldSize := range slices.Compact([]int64{0, 1, int64(n) / 2, int64(n)}) {
					if oldSize > int64(n) {
						continue
					}
					old := filepath.Join(t.TempDir(), "saved")
					write(t, old, signCheckpoint(t, k, origin, records, oldSize))
					code, out, _ := verifyExport(t, "-dir", f.dir, "-old", old)
					if code != 0 || out != wantLine {
						t.Errorf("-old at size %d: exit %d, %q", oldSize, code, out)
					}
				}
			})
		}
	}
}

func TestRecordsBeyondTheCheckpointAreAllowedAndReported(t *testing.T) {
	k := newKey(t, origin)
	records := randomRecords(10, 2)
	f := writeExport(t, k, records, 7, true)
	code, out, errOut := verifyExport(t, "-dir", f.dir)
	if code != 0 || !strings.HasPrefix(out, "OK "+origin+" size=7 root=") {
		t.Fatalf("exit %d, %q", code, out)
	}
	if !strings.Contains(errOut, "note: 3 records (indices 7..9) are beyond the checkpoint's size 7 and not covered by it") {
		t.Errorf("stderr %q does not report the 3 records not covered", errOut)
	}
}

func TestTamperedExportsFail(t *testing.T) {
	k := newKey(t, origin)
	other := newKey(t, origin) // the same name, another key
	for _, n := range []int{7, 1000} {
		records := randomRecords(n, 3)
		// i and j are records in the middle of the log, i < j.
		i, j := n/2-1, n/2+2
		if n == 7 {
			i, j = 2, 5
		}
		// flipped is record i with one byte changed (one byte added if it is empty).
		flipped := slices.Clone(records[i])
		if len(flipped) == 0 {
			flipped = []byte{0}
		}
		flipped[0] ^= 0x01

		cases := []struct {
			name   string
			proofs bool
			tamper func(t *testing.T, f fixture) []string // returns extra arguments
			want   string                                 // the FAIL line's start; DIR and OLD are replaced
		}{
			{"one byte changed, with proofs", true, func(t *testing.T, f fixture) []string {
				setData(t, f.dir, i, flipped)
				return nil
			}, fmt.Sprintf("FAIL index %d: the record and its inclusion proof do not lead to the signed root", i)},
			{"one byte changed, without proofs", false, func(t *testing.T, f fixture) []string {
				setData(t, f.dir, i, flipped)
				return nil
			}, fmt.Sprintf("FAIL checkpoint DIR/checkpoint: root mismatch at size %d", n)},
			{"record deleted", true, func(t *testing.T, f fixture) []string {
				editLines(t, filepath.Join(f.dir, "records.ndjson"), func(ls []string) []string { return slices.Delete(ls, i, i+1) })
				return nil
			}, fmt.Sprintf("FAIL index %d: record missing or out of order: records.ndjson line %d has index %d", i, i+1, i+1)},
			{"record deleted and the rest renumbered, with proofs", true, func(t *testing.T, f fixture) []string {
				for x := i; x < n-1; x++ {
					setData(t, f.dir, x, records[x+1])
				}
				editLines(t, filepath.Join(f.dir, "records.ndjson"), func(ls []string) []string { return ls[:n-1] })
				return nil
			}, fmt.Sprintf("FAIL index %d: record missing: records.ndjson ends after %d records", n-1, n-1)},
			{"record duplicated", true, func(t *testing.T, f fixture) []string {
				editLines(t, filepath.Join(f.dir, "records.ndjson"), func(ls []string) []string { return slices.Insert(ls, i+1, ls[i]) })
				return nil
			}, fmt.Sprintf("FAIL index %d: record duplicated or out of order: records.ndjson line %d has index %d", i+1, i+2, i)},
			{"two lines swapped", true, func(t *testing.T, f fixture) []string {
				editLines(t, filepath.Join(f.dir, "records.ndjson"), func(ls []string) []string { ls[i], ls[j] = ls[j], ls[i]; return ls })
				return nil
			}, fmt.Sprintf("FAIL index %d: record missing or out of order: records.ndjson line %d has index %d", i, i+1, j)},
			{"two records' data swapped, indices kept, with proofs", true, func(t *testing.T, f fixture) []string {
				setData(t, f.dir, i, records[j])
				setData(t, f.dir, j, records[i])
				return nil
			}, fmt.Sprintf("FAIL index %d: the record and its inclusion proof", i)},
			{"two records' data swapped, indices kept, without proofs", false, func(t *testing.T, f fixture) []string {
				setData(t, f.dir, i, records[j])
				setData(t, f.dir, j, records[i])
				return nil
			}, fmt.Sprintf("FAIL checkpoint DIR/checkpoint: root mismatch at size %d", n)},
			{"truncated below the checkpoint's size", true, func(t *testing.T, f fixture) []string {
				editLines(t, filepath.Join(f.dir, "records.ndjson"), func(ls []string) []string { return ls[:i] })
				return nil
			}, fmt.Sprintf("FAIL index %d: record missing: records.ndjson ends after %d records, the checkpoint's size is %d", i, i, n)},
			{"all records removed", false, func(t *testing.T, f fixture) []string {
				write(t, filepath.Join(f.dir, "records.ndjson"), nil)
				return nil
			}, fmt.Sprintf("FAIL index 0: record missing: records.ndjson ends after 0 records, the checkpoint's size is %d", n)},
			{"record line not JSON", true, func(t *testing.T, f fixture) []string {
				editLines(t, filepath.Join(f.dir, "records.ndjson"), func(ls []string) []string { ls[i] = ls[i][:10]; return ls })
				return nil
			}, fmt.Sprintf("FAIL index %d: records.ndjson line %d: ", i, i+1)},
			{"checkpoint signed by another key", true, func(t *testing.T, f fixture) []string {
				write(t, filepath.Join(f.dir, "checkpoint"), signCheckpoint(t, other, origin, f.records, f.size))
				return nil
			}, "FAIL checkpoint DIR/checkpoint: not signed by the verifier key " + origin + "+"},
			{"verifier key replaced by another", true, func(t *testing.T, f fixture) []string {
				write(t, filepath.Join(f.dir, "verifier.key"), []byte(other.vkey+"\n"))
				return nil
			}, "FAIL checkpoint DIR/checkpoint: not signed by the verifier key " + origin + "+"},
			{"checkpoint body changed after signing", true, func(t *testing.T, f fixture) []string {
				editLines(t, filepath.Join(f.dir, "checkpoint"), func(ls []string) []string {
					ls[1] = fmt.Sprint(f.size - 1)
					return ls
				})
				return nil
			}, "FAIL checkpoint DIR/checkpoint: signed note: invalid signature for key " + origin + "+"},
			{"checkpoint re-signed over other records", false, func(t *testing.T, f fixture) []string {
				forged := slices.Clone(f.records)
				forged[i] = flipped
				write(t, filepath.Join(f.dir, "checkpoint"), signCheckpoint(t, f.key, origin, forged, f.size))
				return nil
			}, fmt.Sprintf("FAIL checkpoint DIR/checkpoint: root mismatch at size %d", n)},
			{"unexpected origin", true, func(t *testing.T, f fixture) []string {
				return []string{"-origin", "vox.example/audit/globex"}
			}, `FAIL checkpoint DIR/checkpoint: origin "` + origin + `", expected "vox.example/audit/globex"`},
			{"proof for another tree size", true, func(t *testing.T, f fixture) []string {
				editLines(t, filepath.Join(f.dir, "proofs.ndjson"), func(ls []string) []string {
					ls[i] = strings.Replace(ls[i], fmt.Sprintf(`"tree_size":%d`, n), fmt.Sprintf(`"tree_size":%d`, n+1), 1)
					return ls
				})
				return nil
			}, fmt.Sprintf("FAIL index %d: inclusion proof for tree size %d, the checkpoint's size is %d", i, n+1, n)},
			{"proof missing", true, func(t *testing.T, f fixture) []string {
				editLines(t, filepath.Join(f.dir, "proofs.ndjson"), func(ls []string) []string { return ls[:n-1] })
				return nil
			}, fmt.Sprintf("FAIL index %d: no inclusion proof", n-1)},
			{"old checkpoint: fork at the same size", true, func(t *testing.T, f fixture) []string {
				forked := slices.Clone(f.records)
				forked[i] = flipped
				return []string{"-old", saveOld(t, signCheckpoint(t, f.key, origin, forked, f.size))}
			}, fmt.Sprintf("FAIL old-checkpoint OLD: fork or rewritten history: it signs root %s at size %d", buildTree(t, withRecord(records, i, flipped)).root(t, int64(n)), n)},
			{"old checkpoint: history rewritten before it", true, func(t *testing.T, f fixture) []string {
				// The operator changed record i and re-signed everything with the real key:
				// the export is consistent in itself, only the saved checkpoint tells.
				forged := slices.Clone(f.records)
				forged[i] = flipped
				old := saveOld(t, signCheckpoint(t, f.key, origin, f.records, int64(j)))
				f2 := writeExport(t, f.key, forged, f.size, true)
				return []string{"-dir", f2.dir, "-old", old}
			}, fmt.Sprintf("FAIL old-checkpoint OLD: fork or rewritten history: it signs root %s at size %d", buildTree(t, records).root(t, int64(j)), j)},
			{"old checkpoint larger than the new one", true, func(t *testing.T, f fixture) []string {
				longer := append(slices.Clone(f.records), []byte("later"))
				return []string{"-old", saveOld(t, signCheckpoint(t, f.key, origin, longer, f.size+1))}
			}, fmt.Sprintf("FAIL old-checkpoint OLD: size %d is larger than the export's checkpoint size %d", n+1, n)},
			{"old checkpoint signed by another key", true, func(t *testing.T, f fixture) []string {
				return []string{"-old", saveOld(t, signCheckpoint(t, other, origin, f.records, int64(i)))}
			}, "FAIL old-checkpoint OLD: not signed by the verifier key " + origin + "+"},
			{"old checkpoint of another origin", true, func(t *testing.T, f fixture) []string {
				return []string{"-old", saveOld(t, signCheckpoint(t, f.key, "vox.example/audit/globex", f.records, int64(i)))}
			}, `FAIL old-checkpoint OLD: origin "vox.example/audit/globex", the export's checkpoint has "` + origin + `"`},
			{"old checkpoint missing", true, func(t *testing.T, f fixture) []string {
				return []string{"-old", filepath.Join(t.TempDir(), "nope")}
			}, "FAIL old-checkpoint "},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("n=%d/%s", n, c.name), func(t *testing.T) {
				f := writeExport(t, k, records, int64(n), c.proofs)
				args := []string{"-dir", f.dir}
				extra := c.tamper(t, f)
				if len(extra) > 0 && extra[0] == "-dir" {
					args = nil // the case made its own export
				}
				args = append(args, extra...)
				code, out, errOut := verifyExport(t, args...)
				dir := args[slices.Index(args, "-dir")+1]
				want := strings.ReplaceAll(c.want, "DIR", dir)
				if x := slices.Index(args, "-old"); x >= 0 {
					want = strings.ReplaceAll(want, "OLD", args[x+1])
				}
				if code != 1 || !strings.HasPrefix(out, want) || strings.Count(out, "\n") != 1 {
					t.Fatalf("exit %d, stdout %q (stderr %q)\nwant exit 1 and a line starting %q", code, out, errOut, want)
				}
			})
		}
	}
}

func withRecord(records [][]byte, i int, data []byte) [][]byte {
	out := slices.Clone(records)
	out[i] = data
	return out
}

func saveOld(t *testing.T, msg []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "saved-checkpoint")
	write(t, path, msg)
	return path
}

func TestBadUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"-dir"}, {"-dir", "x", "extra"}, {"-nope"}} {
		if code, out, _ := verifyExport(t, args...); code != 2 || out != "" {
			t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", args, code, out)
		}
	}
}

func TestMalformedFilesFail(t *testing.T) {
	k := newKey(t, origin)
	records := randomRecords(3, 4)
	cases := []struct {
		name   string
		tamper func(dir string)
		want   string
	}{
		{"no verifier key", func(dir string) { os.Remove(filepath.Join(dir, "verifier.key")) }, "FAIL file DIR/verifier.key: open: "},
		{"verifier key on two lines", func(dir string) {
			write(t, filepath.Join(dir, "verifier.key"), []byte(k.vkey+"\n"+k.vkey+"\n"))
		}, "FAIL file DIR/verifier.key: not one line"},
		{"verifier key garbled", func(dir string) {
			write(t, filepath.Join(dir, "verifier.key"), []byte(strings.Replace(k.vkey, "+", "+0", 1)+"\n"))
		}, "FAIL file DIR/verifier.key: malformed verifier key"},
		{"no checkpoint", func(dir string) { os.Remove(filepath.Join(dir, "checkpoint")) }, "FAIL checkpoint DIR/checkpoint: open: "},
		{"no records", func(dir string) { os.Remove(filepath.Join(dir, "records.ndjson")) }, "FAIL file DIR/records.ndjson: missing"},
		{"checkpoint size with a leading zero", func(dir string) {
			msg, _ := note.Sign(&note.Note{Text: origin + "\n03\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"}, k.signer)
			write(t, filepath.Join(dir, "checkpoint"), msg)
		}, `FAIL checkpoint DIR/checkpoint: malformed checkpoint size "03"`},
		{"checkpoint without root", func(dir string) {
			msg, _ := note.Sign(&note.Note{Text: origin + "\n3\n"}, k.signer)
			write(t, filepath.Join(dir, "checkpoint"), msg)
		}, "FAIL checkpoint DIR/checkpoint: malformed checkpoint body"},
		{"record data not base64", func(dir string) {
			editLines(t, filepath.Join(dir, "records.ndjson"), func(ls []string) []string {
				ls[1] = `{"index":1,"data":"not base64!"}`
				return ls
			})
		}, "FAIL index 1: records.ndjson line 2: data is not standard base64"},
		{"record without data", func(dir string) {
			editLines(t, filepath.Join(dir, "records.ndjson"), func(ls []string) []string {
				ls[1] = `{"index":1}`
				return ls
			})
		}, `FAIL index 1: records.ndjson line 2: want the fields "index" and "data"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := writeExport(t, k, records, 3, true)
			c.tamper(f.dir)
			code, out, errOut := verifyExport(t, "-dir", f.dir)
			want := strings.ReplaceAll(c.want, "DIR", f.dir)
			if code != 1 || !strings.HasPrefix(out, want) {
				t.Fatalf("exit %d, stdout %q (stderr %q)\nwant exit 1 and a line starting %q", code, out, errOut, want)
			}
		})
	}
}
