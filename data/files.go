package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// item is one image file and its mask file.
type item struct {
	id, image, mask string
}

// Problem is one thing wrong with a dataset, tied to the file at fault.
type Problem struct {
	Path string // the file (or folder) at fault
	Msg  string // what is wrong, and what was expected
}

func (p Problem) Error() string { return p.Path + ": " + p.Msg }

// problemsError joins problems into one error listing them all.
func problemsError(ps []Problem) error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// VOC layout paths.
func vocSplitFile(root, split string) string {
	return filepath.Join(root, "ImageSets", "Segmentation", split+".txt")
}
func vocImage(root, id string) string { return filepath.Join(root, "JPEGImages", id+".jpg") }

// vocImageExts are the image files JPEGImages may hold for an id, in the order looked for
// (VOC's own are .jpg; a set of one's own may well be PNG).
var vocImageExts = []string{".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG"}

// findVOCImage is the image file of id: the first of id.jpg, id.jpeg, id.png (any case)
// that exists, or "" if none does.
func findVOCImage(root, id string) string {
	for _, ext := range vocImageExts {
		if p := filepath.Join(root, "JPEGImages", id+ext); isFile(p) {
			return p
		}
	}
	return ""
}
func vocMask(root, id string) string {
	return filepath.Join(root, "SegmentationClass", id+".png")
}

// readSplitFile reads ids one per line (blank lines and surrounding spaces ignored).
func readSplitFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the split file: %w", path, osReason(err))
	}
	defer f.Close()
	return parseSplitList(f, path)
}

// maxSplitLine bounds a split-list line; VOC ids are a few dozen bytes.
const maxSplitLine = 64 << 10

// parseSplitList reads a split list: one id a line, blank lines and surrounding spaces
// ignored. An id names files under the dataset root, so one that could lead out of it (an
// absolute path, a ".." element, a backslash or a control character) is an error naming
// the file and line.
func parseSplitList(r io.Reader, path string) ([]string, error) {
	var ids []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxSplitLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		// VOC's classification lists append a flag ("2008_000008 -1"); keep the id.
		id := strings.Fields(line)[0]
		if err := checkID(id); err != nil {
			return nil, fmt.Errorf("%s:%d: id %q %v: split lists name files inside the dataset root", path, n, id, err)
		}
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s: a line longer than %d bytes: not a split list (one image id a line)", path, maxSplitLine)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ids, nil
}

// checkID refuses an id that is not a plain relative name inside the root.
func checkID(id string) error {
	switch {
	case !utf8.ValidString(id):
		return errors.New("is not valid UTF-8")
	case strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("holds a control character")
	case strings.Contains(id, `\`):
		return errors.New("holds a backslash")
	case filepath.IsAbs(id) || strings.HasPrefix(id, "/"):
		return errors.New("is an absolute path")
	}
	for _, el := range strings.Split(id, "/") {
		if el == ".." {
			return errors.New("leads out of its folder (..)")
		}
	}
	return nil
}

// listVOC lists a VOC split, failing on the first absent file (Check lists them all).
func listVOC(root, split string) ([]item, error) {
	items, problems := listVOCAll(root, split)
	if len(problems) > 0 {
		return nil, problemsError(problems)
	}
	return items, nil
}

// listVOCAll lists a VOC split and every problem found doing so.
func listVOCAll(root, split string) ([]item, []Problem) {
	path := vocSplitFile(root, split)
	ids, err := readSplitFile(path)
	if err != nil {
		return nil, []Problem{pathProblem(err)}
	}
	if len(ids) == 0 {
		return nil, []Problem{{path, fmt.Sprintf("split %q is empty", split)}}
	}
	var items []item
	var problems []Problem
	for _, id := range ids {
		it := item{id: id, image: findVOCImage(root, id), mask: vocMask(root, id)}
		ok := true
		if it.image == "" {
			problems = append(problems, Problem{vocImage(root, id), fmt.Sprintf("image of %q (listed in %s) is missing: looked for %s.jpg, .jpeg and .png in JPEGImages", id, path, id)})
			ok = false
		}
		if !isFile(it.mask) {
			problems = append(problems, Problem{it.mask, fmt.Sprintf("mask of %q (listed in %s) is missing", id, path)})
			ok = false
		}
		if ok {
			items = append(items, it)
		}
	}
	return items, problems
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// osReason strips the operation and path from an *fs.PathError ("open x: no such file")
// because our messages put the path first themselves.
func osReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true}

// listFolder pairs images and masks by file stem; it returns the pairs and a problem
// for every image without a mask, mask without an image, or ambiguous stem.
func listFolder(cfg Config, split string) ([]item, []Problem, error) {
	imgDir := resolveDir(cfg.Root, cfg.Images, split)
	maskDir := resolveDir(cfg.Root, cfg.Masks, split)
	images, err := stems(imgDir, imageExts)
	if err != nil {
		return nil, nil, err
	}
	masks, err := stems(maskDir, map[string]bool{".png": true})
	if err != nil {
		return nil, nil, err
	}
	var problems []Problem
	if len(images) == 0 {
		problems = append(problems, Problem{imgDir, fmt.Sprintf("split %q is empty: no .jpg, .jpeg or .png images", split)})
	}
	keys := make([]string, 0, len(images))
	for k := range images {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var items []item
	for _, stem := range keys {
		files := images[stem]
		if len(files) > 1 {
			problems = append(problems, Problem{files[0], fmt.Sprintf("several images share the stem %q: %s", stem, strings.Join(files, ", "))})
			continue
		}
		m, ok := masks[stem]
		if !ok {
			problems = append(problems, Problem{files[0], fmt.Sprintf("no mask %s", filepath.Join(maskDir, stem+".png"))})
			continue
		}
		items = append(items, item{id: stem, image: files[0], mask: m[0]})
	}
	var extra []string
	for stem, m := range masks {
		if _, ok := images[stem]; !ok {
			extra = append(extra, m[0])
		}
	}
	sort.Strings(extra)
	for _, m := range extra {
		problems = append(problems, Problem{m, fmt.Sprintf("extra mask: no image of that stem in %s", imgDir)})
	}
	return items, problems, nil
}

// stems maps file stems to the files in dir with one of exts (case-insensitive).
func stems(dir string, exts map[string]bool) (map[string][]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot list the folder: %w", dir, err)
	}
	out := make(map[string][]string)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		ext := filepath.Ext(e.Name())
		if !exts[strings.ToLower(ext)] {
			continue
		}
		stem := strings.TrimSuffix(e.Name(), ext)
		out[stem] = append(out[stem], filepath.Join(dir, e.Name()))
	}
	return out, nil
}

// fileDataset serves image/mask pairs from disk (the voc and folder formats).
type fileDataset struct {
	items   []item
	names   []string
	ignore  int
	classes int
}

func newFileDataset(items []item, names []string, ignore int) *fileDataset {
	return &fileDataset{items: items, names: names, ignore: ignore, classes: len(names)}
}

func (d *fileDataset) Len() int             { return len(d.items) }
func (d *fileDataset) ClassNames() []string { return d.names }

// Sample decodes image and mask and checks that they agree in size and that every label
// is a class id or the ignore label.
func (d *fileDataset) Sample(i int) (Sample, error) {
	if i < 0 || i >= len(d.items) {
		return Sample{}, fmt.Errorf("data: sample %d out of range [0, %d)", i, len(d.items))
	}
	it := d.items[i]
	img, h, w, err := ReadImageFile(it.image)
	if err != nil {
		return Sample{}, err
	}
	lab, mh, mw, err := ReadMaskFile(it.mask)
	if err != nil {
		return Sample{}, err
	}
	if mh != h || mw != w {
		return Sample{}, fmt.Errorf("%s: mask is %d×%d (W×H) but its image %s is %d×%d", it.mask, mw, mh, it.image, w, h)
	}
	if err := checkLabels(lab, w, d.classes, d.ignore, it.mask); err != nil {
		return Sample{}, err
	}
	return Sample{Image: img, Label: lab, H: h, W: w, ID: it.image}, nil
}
