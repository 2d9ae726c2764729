package data

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// WriteSyntheticVOC writes the synthetic train and val splits of cfg in the PASCAL VOC
// layout under dir: JPEGImages/<id>.jpg, SegmentationClass/<id>.png (palette PNG, VOC
// colours) and ImageSets/Segmentation/{train,val}.txt. Sample i of split s gets the id
// "<s>_<i, 6 digits>" and is exactly Synthetic's sample (up to JPEG compression).
func WriteSyntheticVOC(ctx context.Context, dir string, cfg SyntheticConfig, quality int) error {
	if errs := cfg.validate(); len(errs) > 0 {
		return errs[0]
	}
	for _, sub := range []string{"JPEGImages", "SegmentationClass", filepath.Join("ImageSets", "Segmentation")} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, sub), err)
		}
	}
	for _, split := range []string{"train", "val"} {
		ds, err := NewSynthetic(cfg, split, nil)
		if err != nil {
			return err
		}
		ids := make([]string, ds.Len())
		for i := range ids {
			ids[i] = fmt.Sprintf("%s_%06d", split, i)
		}
		if err := writeSamples(ctx, dir, ds, ids, quality); err != nil {
			return err
		}
		// The list last: a split list that exists names files that exist.
		if err := writeFile(vocSplitFile(dir, split), func(f *os.File) error {
			w := bufio.NewWriter(f)
			for _, id := range ids {
				fmt.Fprintln(w, id)
			}
			return w.Flush()
		}); err != nil {
			return err
		}
	}
	return nil
}

// writeSamples renders and writes samples on all CPUs.
func writeSamples(ctx context.Context, dir string, ds Dataset, ids []string, quality int) error {
	jobs := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := writeSample(dir, ds, i, ids[i], quality); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	var err error
loop:
	for i := range ids {
		select {
		case jobs <- i:
		case err = <-errs:
			break loop
		case <-ctx.Done():
			err = ctx.Err()
			break loop
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

func writeSample(dir string, ds Dataset, i int, id string, quality int) error {
	s, err := ds.Sample(i)
	if err != nil {
		return err
	}
	if err := writeFile(vocImage(dir, id), func(f *os.File) error {
		return EncodeJPEG(f, s.Image, s.H, s.W, quality)
	}); err != nil {
		return err
	}
	return writeFile(vocMask(dir, id), func(f *os.File) error {
		return EncodeMask(f, s.Label, s.H, s.W)
	})
}

// writeFile writes path whole or not at all: into a temporary file beside it, renamed
// over it when complete (an interrupted write leaves at most a .tmp- file, never a
// truncated image under its real name). No fsync: thousands of small files would take
// minutes, and a set can be written again.
func writeFile(path string, write func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o644)
	if err == nil {
		err = write(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
