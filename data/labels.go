package data

import (
	"fmt"
	"io"
	"os"
)

// LabelStats are pixel counts over the masks of a split.
type LabelStats struct {
	Masks     int
	Labelled  int64 // pixels of a class id
	Ignored   int64 // pixels of the ignore label
	Malformed int64 // pixels of neither (Scan reports their masks as problems)
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
