package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// merged is the report out holds with benches' sections and headline rows
// replaced by this run's. It refuses, rather than guess, when the old
// report lacks a section's heading or the markers of its parts: replacing
// the wrong span would destroy what was written by hand.
func (e *env) merged(out, dir, rel string, meta runMeta, benches []string) ([]byte, error) {
	old, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	doc := string(old)
	note := e.mergeNote(meta, benches)
	fresh := map[string][]string{}
	for _, s := range e.sections() {
		if !slices.Contains(benches, s.bench) {
			continue
		}
		var b strings.Builder
		if err := s.write(func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }, dir, rel); err != nil {
			return nil, err
		}
		if doc, err = spliceSection(doc, s.heading, b.String(), note); err != nil {
			return nil, fmt.Errorf("%s: merging %s into it: %w (nothing written; regenerate it whole, without --only)", out, s.bench, err)
		}
		if s.rowPrefix != "" {
			fresh[s.bench] = e.headlineRows(s.bench)
		}
	}
	if doc, err = mergeHeadlines(doc, e.sections(), fresh); err != nil {
		return nil, fmt.Errorf("%s: %w (nothing written; regenerate it whole, without --only)", out, err)
	}
	return []byte(doc), nil
}

// mergeNote opens a merged section: the report's header names the run
// that made the rest, not this one.
func (e *env) mergeNote(meta runMeta, benches []string) string {
	n := fmt.Sprintf("*This section alone was regenerated on %s (`lsbench --only %s --reps %d --measure %s`, %s; "+
		"load average before %s, after %s); the others are from the runs named above.*",
		meta.Started.UTC().Format("2006-01-02 15:04 UTC"), strings.Join(benches, ","), meta.Reps, meta.Measure,
		meta.Took.Round(1e9), meta.LoadBefore, meta.LoadAfter)
	if len(e.failures) > 0 {
		var b strings.Builder
		e.failureList(func(format string, a ...any) { fmt.Fprintf(&b, format, a...) })
		return n + "\n\n" + b.String()
	}
	return n + "\n\n"
}

// spliceSection replaces, in doc, the inside of every part gen has under
// heading with gen's, note first in the first part. Everything outside
// the parts stays as it is.
func spliceSection(doc, heading, gen, note string) (string, error) {
	names := partNames(gen)
	if len(names) == 0 {
		return "", fmt.Errorf("lsbench wrote no marked part for %q", heading)
	}
	for i, name := range names {
		lo, hi, err := partSpan(gen, 0, len(gen), name)
		if err != nil {
			return "", fmt.Errorf("generated text: %w", err)
		}
		inner := gen[lo:hi]
		if i == 0 {
			inner = "\n\n" + note + strings.TrimPrefix(inner, "\n\n")
		}
		from, to, err := sectionSpan(doc, heading)
		if err != nil {
			return "", err
		}
		if lo, hi, err = partSpan(doc, from, to, name); err != nil {
			return "", fmt.Errorf("under %q: %w", heading, err)
		}
		doc = doc[:lo] + inner + doc[hi:]
	}
	return doc, nil
}

// sectionSpan is where heading's section lies in doc: from its heading to
// the next "## " heading or the end.
func sectionSpan(doc, heading string) (int, int, error) {
	line := "\n" + heading + "\n"
	switch strings.Count(doc, line) {
	case 0:
		return 0, 0, fmt.Errorf("no heading %q", heading)
	case 1:
	default:
		return 0, 0, fmt.Errorf("heading %q more than once", heading)
	}
	from := strings.Index(doc, line) + 1
	to := strings.Index(doc[from+len(heading):], "\n## ")
	if to < 0 {
		return from, len(doc), nil
	}
	return from, from + len(heading) + to + 1, nil
}

// partSpan is the inside of part name, between its markers, which must
// each be in doc once, in order, within [from, to), with no other marker
// between them.
func partSpan(doc string, from, to int, name string) (int, int, error) {
	begin, end := partMarker("begin", name), partMarker("end", name)
	if strings.Count(doc, begin) != 1 || strings.Count(doc, end) != 1 {
		return 0, 0, fmt.Errorf("want %s and %s once each", begin, end)
	}
	lo, hi := strings.Index(doc, begin)+len(begin), strings.Index(doc, end)
	if lo-len(begin) < from || hi < lo || hi > to {
		return 0, 0, fmt.Errorf("%s and %s out of place", begin, end)
	}
	if strings.Contains(doc[lo:hi], "<!-- lsbench:") {
		return 0, 0, fmt.Errorf("another lsbench marker inside %s", name)
	}
	return lo, hi, nil
}

// partNames are the parts gen marks, in order.
func partNames(gen string) []string {
	var names []string
	open := "<!-- lsbench:begin "
	for rest := gen; ; {
		i := strings.Index(rest, open)
		if i < 0 {
			return names
		}
		rest = rest[i+len(open):]
		name, _, _ := strings.Cut(rest, " -->")
		names = append(names, name)
	}
}

// mergeHeadlines replaces the headline rows of fresh's benchmarks with
// fresh's, where the first of the old ones stood (or, for a benchmark that
// had none, before the rows of the sections after it), and keeps every
// other row as it is, hand-made notes included.
func mergeHeadlines(doc string, secs []section, fresh map[string][]string) (string, error) {
	if strings.Count(doc, headlineHead) != 1 {
		return "", fmt.Errorf("want the headline table (%q) once", strings.SplitN(headlineHead, "\n", 2)[0])
	}
	start := strings.Index(doc, headlineHead) + len(headlineHead)
	end := start
	for end < len(doc) && doc[end] == '|' {
		nl := strings.IndexByte(doc[end:], '\n')
		if nl < 0 {
			return "", fmt.Errorf("headline table does not end")
		}
		end += nl + 1
	}
	order := func(row string) int {
		return slices.IndexFunc(secs, func(s section) bool { return s.rowPrefix != "" && strings.HasPrefix(row, s.rowPrefix) })
	}
	var rows []string
	done := map[string]bool{}
	emit := func(bench string) {
		if !done[bench] {
			rows, done[bench] = append(rows, fresh[bench]...), true
		}
	}
	for _, r := range strings.SplitAfter(doc[start:end], "\n") {
		if r == "" {
			continue
		}
		i := order(r)
		for j, s := range secs {
			if _, ok := fresh[s.bench]; ok && i >= 0 && j < i {
				emit(s.bench) // measured, no old rows of its own: before the later sections'
			}
		}
		if _, ok := fresh[secs[max(i, 0)].bench]; i >= 0 && ok {
			emit(secs[i].bench)
			continue
		}
		rows = append(rows, strings.TrimSuffix(r, "\n"))
	}
	for _, s := range secs {
		if _, ok := fresh[s.bench]; ok {
			emit(s.bench)
		}
	}
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	return doc[:start] + b.String() + doc[end:], nil
}
