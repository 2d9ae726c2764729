package data

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SyntheticSplits are the splits of the synthetic set.
var SyntheticSplits = []string{"train", "val"}

// Splits lists the splits the dataset cfg describes has, sorted: the synthetic set's
// train and val; in the VOC layout every ImageSets/Segmentation/NAME.txt; in the folder
// layout every NAME for which both data.images and data.masks, with {split} replaced by
// NAME, are folders. any reports a folder layout whose data.images and data.masks hold no
// {split}: the same folders serve every split, so every name is one.
func Splits(cfg Config) (names []string, any bool, err error) {
	switch cfg.Format {
	case FormatSynthetic:
		return append([]string(nil), SyntheticSplits...), false, nil
	case FormatVOC:
		dir := filepath.Join(cfg.Root, "ImageSets", "Segmentation")
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, false, fmt.Errorf("%s: cannot list the split files: %w", dir, err)
		}
		for _, e := range ents {
			name, ok := strings.CutSuffix(e.Name(), ".txt")
			if ok && name != "" && isFile(filepath.Join(dir, e.Name())) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		return names, false, nil
	case FormatFolder:
		pattern := cfg.Images
		if !strings.Contains(pattern, "{split}") {
			pattern = cfg.Masks
		}
		if !strings.Contains(pattern, "{split}") {
			return nil, true, nil
		}
		parent, pre, post := splitPattern(resolveDir(cfg.Root, pattern, "{split}"))
		ents, err := os.ReadDir(parent)
		if err != nil {
			return nil, false, fmt.Errorf("%s: cannot list the split folders: %w", parent, err)
		}
		for _, e := range ents {
			name, ok := strings.CutPrefix(e.Name(), pre)
			if !ok {
				continue
			}
			if name, ok = strings.CutSuffix(name, post); !ok || name == "" {
				continue
			}
			if isDir(resolveDir(cfg.Root, cfg.Images, name)) && isDir(resolveDir(cfg.Root, cfg.Masks, name)) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		return names, false, nil
	}
	return nil, false, fmt.Errorf("data.format: unknown %q", cfg.Format)
}

// splitPattern cuts a path holding {split} at the element that holds the first one: the
// folder above it and what comes before and after {split} in that element.
func splitPattern(p string) (parent, pre, post string) {
	i := strings.Index(p, "{split}")
	start := strings.LastIndexByte(p[:i], filepath.Separator) + 1
	end := len(p)
	if j := strings.IndexByte(p[i:], filepath.Separator); j >= 0 {
		end = i + j
	}
	parent = p[:start]
	if parent == "" {
		parent = "."
	}
	return parent, p[start:i], p[i+len("{split}") : end]
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// CheckSplit refuses a split the dataset does not have, listing those it has. A split is
// a plain name (train, val, seg11valid), never a path: one that leads out of its folder
// (../x, /x, a/b) is refused before anything is read.
func CheckSplit(cfg Config, split string) error {
	if split == "" {
		return fmt.Errorf("split: want a name such as train or val, got an empty one")
	}
	if !filepath.IsLocal(split) || strings.ContainsAny(split, `/\`) || strings.ContainsFunc(split, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("split %q: a split is a plain name such as train or val, not a path", split)
	}
	names, any, err := Splits(cfg)
	if err != nil {
		return err
	}
	if any {
		return nil
	}
	for _, n := range names {
		if n == split {
			return nil
		}
	}
	where := map[string]string{
		FormatSynthetic: "the synthetic set",
		FormatVOC:       filepath.Join(cfg.Root, "ImageSets", "Segmentation", "NAME.txt"),
		FormatFolder:    fmt.Sprintf("folders %s and %s", resolveDir(cfg.Root, cfg.Images, "NAME"), resolveDir(cfg.Root, cfg.Masks, "NAME")),
	}[cfg.Format]
	if len(names) == 0 {
		return fmt.Errorf("split %q: the dataset has no splits (none found as %s)", split, where)
	}
	return fmt.Errorf("split %q: no such split; the dataset has %s (from %s)", split, strings.Join(names, ", "), where)
}

// SampleID is sample i's ID (Sample.ID: its image file, or synthetic/<split>/<i>) without
// decoding it where the dataset knows it (the voc, folder and synthetic formats).
func SampleID(ds Dataset, i int) (string, error) {
	if i < 0 || i >= ds.Len() {
		return "", fmt.Errorf("data: sample %d out of range [0, %d)", i, ds.Len())
	}
	switch d := ds.(type) {
	case *fileDataset:
		return d.items[i].image, nil
	case *Synthetic:
		return d.id(i), nil
	}
	s, err := ds.Sample(i)
	return s.ID, err
}
