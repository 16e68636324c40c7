// Command gocompat writes ../go_vectors.json: trees, proofs, a signing key
// and a signed checkpoint computed by Go's golang.org/x/mod/sumdb/tlog and
// note packages, which the auditlog crate's tests must reproduce byte for
// byte. Run from this directory: go run . > ../go_vectors.json
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The leaves: "record 0", "record 1", ...
const leaves = 21

type hashes []tlog.Hash

func (h hashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = h[x]
	}
	return out, nil
}

type inclusion struct {
	Index int64       `json:"index"`
	Size  int64       `json:"size"`
	Proof []tlog.Hash `json:"proof"`
}

type consistency struct {
	Old   int64       `json:"old"`
	New   int64       `json:"new"`
	Proof []tlog.Hash `json:"proof"`
}

type vectors struct {
	Generator   string        `json:"generator"`
	Leaves      []string      `json:"leaves"`
	Stored      []tlog.Hash   `json:"stored_hashes"`
	Roots       []tlog.Hash   `json:"roots"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
	PrivateKey  string        `json:"private_key"`
	VerifierKey string        `json:"verifier_key"`
	Origin      string        `json:"origin"`
	Checkpoint  string        `json:"checkpoint"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	v := vectors{Generator: "testdata/gocompat (golang.org/x/mod v0.43.0)"}
	var stored hashes
	v.Roots = append(v.Roots, tlog.Hash{}) // replaced below by TreeHash(0)
	root0, err := tlog.TreeHash(0, stored)
	if err != nil {
		return err
	}
	v.Roots[0] = root0
	for i := int64(0); i < leaves; i++ {
		data := fmt.Sprintf("record %d", i)
		v.Leaves = append(v.Leaves, data)
		h, err := tlog.StoredHashes(i, []byte(data), stored)
		if err != nil {
			return err
		}
		stored = append(stored, h...)
		root, err := tlog.TreeHash(i+1, stored)
		if err != nil {
			return err
		}
		v.Roots = append(v.Roots, root)
	}
	v.Stored = stored

	for _, c := range [][2]int64{{0, 1}, {0, 8}, {5, 8}, {3, 7}, {6, 7}, {12, 13}, {0, 21}, {17, 21}, {20, 21}} {
		p, err := tlog.ProveRecord(c[1], c[0], stored)
		if err != nil {
			return err
		}
		if err := tlog.CheckRecord(p, c[1], v.Roots[c[1]], c[0], tlog.RecordHash([]byte(v.Leaves[c[0]]))); err != nil {
			return err
		}
		v.Inclusion = append(v.Inclusion, inclusion{c[0], c[1], p})
	}
	for _, c := range [][2]int64{{1, 1}, {1, 2}, {2, 8}, {3, 7}, {6, 8}, {7, 21}, {13, 21}, {16, 21}, {20, 21}} {
		p, err := tlog.ProveTree(c[1], c[0], stored)
		if err != nil {
			return err
		}
		if err := tlog.CheckTree(p, c[1], v.Roots[c[1]], c[0], v.Roots[c[0]]); err != nil {
			return err
		}
		v.Consistency = append(v.Consistency, consistency{c[0], c[1], p})
	}

	// A key from a fixed seed (bytes 0..31), written as note.GenerateKey
	// writes keys; NewSigner then checks its id against the derived public key.
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	name := "vox.example/audit"
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return err
	}
	v.VerifierKey = vkey
	v.PrivateKey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, verifier.KeyHash(),
		base64.StdEncoding.EncodeToString(append([]byte{1}, seed...)))
	signer, err := note.NewSigner(v.PrivateKey)
	if err != nil {
		return err
	}

	// A C2SP tlog-checkpoint: FormatTree's layout with our origin.
	v.Origin = "vox.example/audit/tenant-1"
	size := int64(leaves)
	text := fmt.Sprintf("%s\n%d\n%s\n", v.Origin, size, v.Roots[size])
	msg, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		return err
	}
	if _, err := note.Open(msg, note.VerifierList(verifier)); err != nil {
		return err
	}
	v.Checkpoint = string(msg)

	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	return out.Encode(v)
}
