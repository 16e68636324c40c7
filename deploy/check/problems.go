package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Problems collects what is wrong, one line each: where (file, object,
// field) and what.
type Problems struct {
	list []string
}

func (p *Problems) Addf(format string, args ...any) {
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

// At reports a problem in object o's field.
func (p *Problems) At(o *Object, field, format string, args ...any) {
	where := o.Where()
	if field != "" {
		where += ": " + field
	}
	p.list = append(p.list, where+": "+fmt.Sprintf(format, args...))
}

func (p *Problems) Merge(q *Problems) { p.list = append(p.list, q.list...) }
func (p *Problems) Any() bool         { return len(p.list) > 0 }
func (p *Problems) Len() int          { return len(p.list) }
func (p *Problems) List() []string    { return p.list }

// Print writes the problems, sorted and without duplicates (the same base
// object fails the same way in every overlay: each overlay is named).
func (p *Problems) Print(w io.Writer) {
	seen := map[string]bool{}
	var lines []string
	for _, l := range p.list {
		if !seen[l] {
			seen[l] = true
			lines = append(lines, l)
		}
	}
	sort.SliceStable(lines, func(i, j int) bool {
		// Multi-line entries (tables) keep their place after the one-liners.
		mi, mj := strings.Contains(lines[i], "\n"), strings.Contains(lines[j], "\n")
		if mi != mj {
			return !mi
		}
		return lines[i] < lines[j]
	})
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
