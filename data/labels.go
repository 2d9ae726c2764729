package data

import (
	"context"
	"fmt"
	"io"
	"os"
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

// SampleSize is the H×W of sample i, read from the image file's header where there is
// one (nothing is decoded), else from the sample.
func SampleSize(ds Dataset, i int) (h, w int, err error) {
	if fd, ok := ds.(*fileDataset); ok {
		if i < 0 || i >= len(fd.items) {
			return 0, 0, fmt.Errorf("data: sample %d out of range [0, %d)", i, len(fd.items))
		}
		path := fd.items[i].image
		b, err := readHeader(path)
		if err != nil {
			return 0, 0, err
		}
		cfg, _, err := decodeConfig(b, path)
		if err != nil {
			return 0, 0, err
		}
		return cfg.Height, cfg.Width, nil
	}
	s, err := ds.Sample(i)
	return s.H, s.W, err
}

// ImageFileSize is the H×W of an image file, from its header: nothing is decoded.
func ImageFileSize(path string) (h, w int, err error) {
	b, err := readHeader(path)
	if err != nil {
		return 0, 0, err
	}
	cfg, _, err := decodeConfig(b, path)
	if err != nil {
		return 0, 0, err
	}
	return cfg.Height, cfg.Width, nil
}

// readHeader reads the start of an image file, enough for its size (JPEG's SOF may come
// after large EXIF blocks: up to 1 MiB is read).
func readHeader(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, osReason(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}
