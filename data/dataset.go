package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Channels is the number of image channels every dataset delivers (RGB).
const Channels = 3

// Sample is one example: an RGB image and its label map of the same height and width.
type Sample struct {
	// Image is planar C×H×W (C = Channels), RGB, values in [0, 255].
	Image []float32
	// Label is H×W: class ids, or the ignore label.
	Label []int32
	H, W  int
	// ID names the sample in messages: its image file, or "synthetic/<split>/<i>".
	ID string
}

// Dataset is an indexed collection of samples. Sample must be safe for concurrent use:
// the loader calls it from several goroutines.
type Dataset interface {
	// Len is the number of samples.
	Len() int
	// Sample decodes sample i (0 ≤ i < Len()) into fresh buffers. Its errors name the
	// file at fault and what was expected.
	Sample(i int) (Sample, error)
	// ClassNames lists the classes; class id k is ClassNames()[k].
	ClassNames() []string
}

// Open opens split (e.g. cfg.TrainSplit) of the dataset cfg describes. It validates cfg
// and lists the split's files (a missing image or mask is an error naming it); decoding
// happens in Sample.
func Open(cfg Config, split string) (Dataset, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names, err := cfg.ClassNames()
	if err != nil {
		return nil, err
	}
	if err := checkRoot(cfg); err != nil {
		return nil, err
	}
	switch cfg.Format {
	case FormatSynthetic:
		return NewSynthetic(cfg.Synthetic, split, cfg.Classes)
	case FormatVOC:
		items, err := listVOC(cfg.Root, split)
		if err != nil {
			return nil, err
		}
		return newFileDataset(items, names, cfg.IgnoreLabel), nil
	case FormatFolder:
		items, problems, err := listFolder(cfg, split)
		if err != nil {
			return nil, err
		}
		if len(problems) > 0 {
			return nil, problemsError(problems)
		}
		return newFileDataset(items, names, cfg.IgnoreLabel), nil
	}
	return nil, fmt.Errorf("data.format: unknown %q", cfg.Format)
}

// checkRoot makes sure the dataset folder exists, so that a wrong data.root gives one
// clear message rather than one per missing file.
func checkRoot(cfg Config) error {
	if cfg.Format == FormatSynthetic {
		return nil
	}
	st, err := os.Stat(cfg.Root)
	switch {
	case err != nil:
		return fmt.Errorf("%s: the dataset folder (data.root) cannot be read: %w", cfg.Root, osReason(err))
	case !st.IsDir():
		return fmt.Errorf("%s: the dataset folder (data.root) is not a folder", cfg.Root)
	}
	return nil
}

// resolveDir makes dir absolute under root and substitutes the split.
func resolveDir(root, dir, split string) string {
	dir = strings.ReplaceAll(dir, "{split}", split)
	if filepath.IsAbs(dir) || root == "" {
		return dir
	}
	return filepath.Join(root, dir)
}
