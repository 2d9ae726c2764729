package data

import (
	"context"
	"runtime"
	"sync"
)

// LabelStats are pixel counts over the masks of a split.
type LabelStats struct {
	Masks     int
	Labelled  int64 // pixels of a class id
	Ignored   int64 // pixels of the ignore label
	Malformed int64 // pixels of neither (the loader refuses these masks when it reaches them)
}

// CountLabels counts the labelled and ignored pixels of every mask of ds, decoding the
// masks only (not the images), on workers goroutines (0: GOMAXPROCS). It reports false
// for datasets without mask files (the synthetic set, whose scenes always hold labelled
// shapes on a labelled background).
func CountLabels(ctx context.Context, ds Dataset, workers int) (LabelStats, bool, error) {
	fd, ok := ds.(*fileDataset)
	if !ok {
		return LabelStats{}, false, nil
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		mu    sync.Mutex
		total = LabelStats{Masks: len(fd.items)}
		first error
		wg    sync.WaitGroup
		next  = make(chan int)
	)
	for range min(workers, max(1, len(fd.items))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				lab, _, _, err := ReadMaskFile(fd.items[i].mask)
				var s LabelStats
				for _, l := range lab {
					switch {
					case int(l) == fd.ignore:
						s.Ignored++
					case l >= 0 && int(l) < fd.classes:
						s.Labelled++
					default:
						s.Malformed++
					}
				}
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				total.Labelled += s.Labelled
				total.Ignored += s.Ignored
				total.Malformed += s.Malformed
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range fd.items {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return total, true, first
}
