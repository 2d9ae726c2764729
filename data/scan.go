package data

import (
	"context"
	"fmt"
	"runtime"
)

// Size is an image's height and width.
type Size struct{ H, W int }

// SizeCount is how many samples of a split have one size, with the first of them.
type SizeCount struct {
	Size
	Count int
	First string // the first sample's image file
}

// SplitScan is what Scan learns of a split: every image's size (from its header), every
// mask decoded and checked against its image and the class ids, pixel counts.
type SplitScan struct {
	Samples int
	Sizes   []SizeCount // distinct sizes, in order of first appearance
	Labels  LabelStats
	// Problems lists every sample at fault, in sample order.
	Problems []Problem
}

// Largest is the largest size (by area) in the scan; zero when there is none.
func (s SplitScan) Largest() Size {
	var best Size
	for _, sc := range s.Sizes {
		if sc.H*sc.W > best.H*best.W {
			best = sc.Size
		}
	}
	return best
}

// Scan checks every sample of ds before training, without decoding images: the image's
// size comes from its header, the mask is decoded, its size must be the image's and its
// labels class ids or the ignore label. It runs on workers goroutines (0: GOMAXPROCS),
// calls done (when not nil) once per sample checked, from any goroutine, and reports
// false for datasets without files (the synthetic set, generated correct by
// construction). The error is reserved for a cancelled ctx; problems with the data are
// in the scan, in sample order whatever the scheduling.
func Scan(ctx context.Context, ds Dataset, workers int, done func()) (SplitScan, bool, error) {
	fd, ok := ds.(*fileDataset)
	if !ok {
		return SplitScan{}, false, nil
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	n := len(fd.items)
	type result struct {
		ok       bool
		size     Size
		stats    LabelStats
		problems []Problem
	}
	results := make([]result, n)
	forEachSample(ctx, n, workers, func(i int) {
		r := &results[i]
		it := fd.items[i]
		h, w, errImg := ImageFileSize(it.image)
		if errImg != nil {
			r.problems = append(r.problems, pathProblem(errImg))
		}
		lab, mh, mw, errMask := ReadMaskFile(it.mask)
		if errMask != nil {
			r.problems = append(r.problems, pathProblem(errMask))
		}
		if errImg == nil && errMask == nil {
			if mh != h || mw != w {
				r.problems = append(r.problems, Problem{it.mask, fmt.Sprintf("mask is %d×%d (W×H) but its image %s is %d×%d", mw, mh, it.image, w, h)})
			} else {
				pixels, ignored, probs := histogram(lab, w, fd.classes, fd.ignore, it.mask)
				r.problems = append(r.problems, probs...)
				r.ok, r.size = len(probs) == 0, Size{h, w}
				r.stats.Ignored = ignored
				for _, p := range pixels {
					r.stats.Labelled += p
				}
				r.stats.Malformed = int64(len(lab)) - r.stats.Labelled - ignored
			}
		}
		if done != nil {
			done()
		}
	})
	if err := ctx.Err(); err != nil {
		return SplitScan{}, true, err
	}
	sc := SplitScan{Samples: n, Labels: LabelStats{Masks: n}}
	at := map[Size]int{}
	for i, r := range results {
		sc.Problems = append(sc.Problems, r.problems...)
		sc.Labels.Labelled += r.stats.Labelled
		sc.Labels.Ignored += r.stats.Ignored
		sc.Labels.Malformed += r.stats.Malformed
		if !r.ok {
			continue
		}
		if j, seen := at[r.size]; seen {
			sc.Sizes[j].Count++
			continue
		}
		at[r.size] = len(sc.Sizes)
		sc.Sizes = append(sc.Sizes, SizeCount{Size: r.size, Count: 1, First: fd.items[i].image})
	}
	return sc, true, nil
}
