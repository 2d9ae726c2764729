package data

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// SplitReport summarises one split.
type SplitReport struct {
	Split string
	// Count is the number of samples listed; Checked those whose files decoded.
	Count, Checked int
	// Image size statistics over the checked samples.
	MinH, MaxH, MinW, MaxW int
	MeanH, MeanW           float64
	// Pixels counts label pixels per class; Ignored those equal to the ignore label.
	Pixels  []int64
	Ignored int64
}

// Report is the outcome of Check.
type Report struct {
	Format      string
	Root        string
	Classes     []string
	IgnoreLabel int
	Splits      []SplitReport
	// Problems lists everything wrong, each with its file, in a stable order.
	Problems []Problem
}

// Check validates the train and val splits of the dataset cfg describes without
// training: it decodes every image and mask and reports counts, image sizes, the class
// pixel histogram and every problem found (missing or extra masks, size mismatches,
// labels that are neither class ids nor the ignore label, unreadable or truncated files,
// empty splits). The error is reserved for an invalid cfg or a cancelled ctx; problems
// with the data are in the report.
func Check(ctx context.Context, cfg Config, workers int) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names, err := cfg.ClassNames()
	if err != nil {
		return nil, err
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	rep := &Report{Format: cfg.Format, Root: cfg.Root, Classes: names, IgnoreLabel: cfg.IgnoreLabel}
	if err := checkRoot(cfg); err != nil {
		rep.Problems = append(rep.Problems, pathProblem(err))
		return rep, nil
	}
	splits := []string{cfg.TrainSplit}
	if cfg.ValSplit != cfg.TrainSplit {
		splits = append(splits, cfg.ValSplit)
	}
	for _, split := range splits {
		sr := SplitReport{Split: split, Pixels: make([]int64, len(names))}
		var probs []Problem
		switch cfg.Format {
		case FormatSynthetic:
			ds, err := NewSynthetic(cfg.Synthetic, split, cfg.Classes)
			if err != nil {
				probs = append(probs, Problem{"synthetic/" + split, err.Error()})
				break
			}
			probs = checkSamples(ctx, ds.Len(), workers, &sr, func(i int) checked {
				return checkSample(ds, i, len(names), cfg.IgnoreLabel)
			})
		case FormatVOC, FormatFolder:
			var items []item
			if cfg.Format == FormatVOC {
				items, probs = listVOCAll(cfg.Root, split)
			} else {
				var err error
				items, probs, err = listFolder(cfg, split)
				if err != nil {
					probs = append(probs, pathProblem(err))
				}
			}
			sr.Count = len(items)
			probs = append(probs, checkSamples(ctx, len(items), workers, &sr, func(i int) checked {
				return checkItem(items[i], len(names), cfg.IgnoreLabel)
			})...)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rep.Splits = append(rep.Splits, sr)
		rep.Problems = append(rep.Problems, probs...)
	}
	if cfg.Format == FormatVOC {
		rep.Problems = append(rep.Problems, extraVOCMasks(cfg.Root)...)
	}
	return rep, nil
}

// checked is the outcome for one sample.
type checked struct {
	ok       bool
	h, w     int
	pixels   []int64
	ignored  int64
	problems []Problem
}

// checkSamples runs check on n samples with a pool of workers and folds the results into
// sr in sample order, so the report does not depend on scheduling.
func checkSamples(ctx context.Context, n, workers int, sr *SplitReport, check func(i int) checked) []Problem {
	if sr.Count == 0 {
		sr.Count = n
	}
	results := make([]checked, n)
	forEachSample(ctx, n, workers, func(i int) { results[i] = check(i) })
	var probs []Problem
	var sumH, sumW int
	for _, r := range results {
		probs = append(probs, r.problems...)
		if !r.ok {
			continue
		}
		if sr.Checked == 0 || r.h < sr.MinH {
			sr.MinH = r.h
		}
		if sr.Checked == 0 || r.w < sr.MinW {
			sr.MinW = r.w
		}
		sr.MaxH, sr.MaxW = max(sr.MaxH, r.h), max(sr.MaxW, r.w)
		sumH += r.h
		sumW += r.w
		sr.Checked++
		for c, p := range r.pixels {
			sr.Pixels[c] += p
		}
		sr.Ignored += r.ignored
	}
	if sr.Checked > 0 {
		sr.MeanH, sr.MeanW = float64(sumH)/float64(sr.Checked), float64(sumW)/float64(sr.Checked)
	}
	return probs
}

// forEachSample calls fn(i) for i in [0, n) on a pool of workers goroutines (each i
// once, in no particular order) and returns when all are done or ctx is cancelled.
func forEachSample(ctx context.Context, n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// pathProblem turns one of our "path: message" errors into a Problem.
func pathProblem(err error) Problem {
	msg := err.Error()
	if path, rest, ok := strings.Cut(msg, ": "); ok && path != "" {
		return Problem{path, rest}
	}
	return Problem{"", msg}
}

func checkItem(it item, classes, ignore int) checked {
	var r checked
	_, h, w, errImg := ReadImageFile(it.image)
	if errImg != nil {
		r.problems = append(r.problems, pathProblem(errImg))
	}
	lab, mh, mw, errMask := ReadMaskFile(it.mask)
	if errMask != nil {
		r.problems = append(r.problems, pathProblem(errMask))
	}
	if errImg != nil || errMask != nil {
		return r
	}
	if mh != h || mw != w {
		r.problems = append(r.problems, Problem{it.mask, fmt.Sprintf("mask is %d×%d (W×H) but its image %s is %d×%d", mw, mh, it.image, w, h)})
		return r
	}
	r.ok, r.h, r.w = true, h, w
	r.pixels, r.ignored, r.problems = histogram(lab, w, classes, ignore, it.mask)
	return r
}

func checkSample(ds Dataset, i, classes, ignore int) checked {
	s, err := ds.Sample(i)
	if err != nil {
		return checked{problems: []Problem{pathProblem(err)}}
	}
	r := checked{ok: true, h: s.H, w: s.W}
	r.pixels, r.ignored, r.problems = histogram(s.Label, s.W, classes, ignore, s.ID)
	return r
}

// histogram counts labels and reports, in one problem, all values that are neither class
// ids nor the ignore label.
func histogram(lab []int32, w, classes, ignore int, name string) ([]int64, int64, []Problem) {
	pixels := make([]int64, classes)
	var ignored int64
	bad := map[int32]int{}
	first := -1
	for i, v := range lab {
		switch {
		case v >= 0 && int(v) < classes:
			pixels[v]++
		case int(v) == ignore:
			ignored++
		default:
			bad[v]++
			if first < 0 {
				first = i
			}
		}
	}
	if len(bad) == 0 {
		return pixels, ignored, nil
	}
	vals := make([]int, 0, len(bad))
	total := 0
	for v, c := range bad {
		vals = append(vals, int(v))
		total += c
	}
	sort.Ints(vals)
	strs := make([]string, len(vals))
	for i, v := range vals {
		strs[i] = fmt.Sprint(v)
	}
	msg := fmt.Sprintf("labels %s (%d pixels, first at (%d,%d)) are not class ids (0..%d) nor the ignore label %d",
		strings.Join(strs, ", "), total, first%w, first/w, classes-1, ignore)
	return pixels, ignored, []Problem{{name, msg}}
}

// extraVOCMasks finds masks in SegmentationClass listed in no split file.
func extraVOCMasks(root string) []Problem {
	listed := map[string]bool{}
	lists, _ := filepath.Glob(filepath.Join(root, "ImageSets", "Segmentation", "*.txt"))
	for _, l := range lists {
		ids, err := readSplitFile(l)
		if err != nil {
			continue
		}
		for _, id := range ids {
			listed[id] = true
		}
	}
	dir := filepath.Join(root, "SegmentationClass")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []Problem{{dir, "cannot list the mask folder: " + osReason(err).Error()}}
	}
	var probs []Problem
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.EqualFold(filepath.Ext(name), ".png") {
			continue
		}
		if !listed[strings.TrimSuffix(name, filepath.Ext(name))] {
			probs = append(probs, Problem{filepath.Join(dir, name), "extra mask: its id is listed in no split file of ImageSets/Segmentation"})
		}
	}
	return probs
}

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "dataset: format %s", r.Format)
	if r.Root != "" {
		fmt.Fprintf(w, ", root %s", r.Root)
	}
	fmt.Fprintf(w, ", %d classes, ignore label %d\n", len(r.Classes), r.IgnoreLabel)
	for _, s := range r.Splits {
		fmt.Fprintf(w, "\nsplit %s: %d samples listed, %d readable\n", s.Split, s.Count, s.Checked)
		if s.Checked > 0 {
			fmt.Fprintf(w, "  image height %d..%d (mean %.1f), width %d..%d (mean %.1f)\n",
				s.MinH, s.MaxH, s.MeanH, s.MinW, s.MaxW, s.MeanW)
		}
		var total int64 = s.Ignored
		for _, p := range s.Pixels {
			total += p
		}
		if total == 0 {
			continue
		}
		fmt.Fprintf(w, "  %-4s %-16s %12s %7s\n", "id", "class", "pixels", "share")
		for c, p := range s.Pixels {
			mark := ""
			if p == 0 {
				mark = "  (absent)"
			}
			fmt.Fprintf(w, "  %-4d %-16s %12d %6.2f%%%s\n", c, r.Classes[c], p, 100*float64(p)/float64(total), mark)
		}
		fmt.Fprintf(w, "  %-4d %-16s %12d %6.2f%%\n", r.IgnoreLabel, "(ignore)", s.Ignored, 100*float64(s.Ignored)/float64(total))
	}
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "\nno problems found")
		return
	}
	fmt.Fprintf(w, "\n%d problem(s):\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  %s: %s\n", p.Path, p.Msg)
	}
}
