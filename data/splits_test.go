package data

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSplitsListed(t *testing.T) {
	voc := t.TempDir()
	writeVOC(t, voc, 5)
	writeBytes(t, filepath.Join(voc, "ImageSets", "Segmentation", "seg11valid.txt"), []byte("2007_000002\n"))
	writeBytes(t, filepath.Join(voc, "ImageSets", "Segmentation", "notes.md"), []byte("not a split"))
	if err := os.MkdirAll(filepath.Join(voc, "ImageSets", "Segmentation", "dir.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	folder := t.TempDir()
	writeFolder(t, folder, 4)
	// A folder of images without its masks folder is no split.
	writeBytes(t, filepath.Join(folder, "images", "extra", "a.png"), pngBytes(t, testImage(4, 4)))
	shared := folderConfig(folder, 4)
	shared.Images, shared.Masks = "images/train", "masks/train"
	suffixed := folderConfig(t.TempDir(), 4)
	suffixed.Images, suffixed.Masks = "{split}_img", "{split}_lab"
	for _, d := range []string{"a_img", "a_lab", "b_img", "c_lab", "x"} {
		if err := os.MkdirAll(filepath.Join(suffixed.Root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	syn := DefaultConfig()
	for _, c := range []struct {
		name string
		cfg  Config
		want []string
		any  bool
	}{
		{"voc", vocConfig(voc, 5), []string{"seg11valid", "train", "val"}, false},
		{"folder", folderConfig(folder, 4), []string{"train", "val"}, false},
		{"folder, {split} inside a name", suffixed, []string{"a"}, false},
		{"folder without {split}", shared, nil, true},
		{"synthetic", syn, []string{"train", "val"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, any, err := Splits(c.cfg)
			if err != nil || !reflect.DeepEqual(got, c.want) || any != c.any {
				t.Errorf("Splits = %v, any %v, %v; want %v, any %v", got, any, err, c.want, c.any)
			}
		})
	}

	// A custom split opens; unknown ones are refused listing the splits that exist.
	if err := CheckSplit(vocConfig(voc, 5), "seg11valid"); err != nil {
		t.Errorf("seg11valid: %v", err)
	}
	if ds, err := Open(vocConfig(voc, 5), "seg11valid"); err != nil || ds.Len() != 1 {
		t.Errorf("open seg11valid: %v", err)
	}
	for _, c := range []struct {
		cfg        Config
		split      string
		want, also string
	}{
		{vocConfig(voc, 5), "test", `split "test": no such split; the dataset has seg11valid, train, val`, filepath.Join(voc, "ImageSets", "Segmentation", "NAME.txt")},
		{vocConfig(voc, 5), "notes", "seg11valid, train, val", ""},
		{folderConfig(folder, 4), "extra", "the dataset has train, val", filepath.Join(folder, "masks", "NAME")},
		{syn, "test", "the dataset has train, val (from the synthetic set)", ""},
		{vocConfig(voc, 5), "../val", "not a path", ""},
		{vocConfig(voc, 5), "/etc/passwd", "not a path", ""},
		{vocConfig(voc, 5), "sub/val", "not a path", ""},
		{vocConfig(voc, 5), `a\b`, "not a path", ""},
		{shared, "../x", "not a path", ""},
		{vocConfig(voc, 5), "", "empty", ""},
	} {
		err := CheckSplit(c.cfg, c.split)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.also) {
			t.Errorf("CheckSplit(%s, %q): %v, want %q and %q", c.cfg.Format, c.split, err, c.want, c.also)
		}
	}
	// Without {split} every name is the same folders.
	if err := CheckSplit(shared, "anything"); err != nil {
		t.Errorf("folder without {split}: %v", err)
	}
	// A VOC root without ImageSets/Segmentation says which folder it could not list.
	if _, _, err := Splits(vocConfig(t.TempDir(), 5)); err == nil || !strings.Contains(err.Error(), "cannot list the split files") {
		t.Errorf("no split folder: %v", err)
	}
}

func TestSampleID(t *testing.T) {
	voc := t.TempDir()
	writeVOC(t, voc, 5)
	ds, err := Open(vocConfig(voc, 5), "train")
	if err != nil {
		t.Fatal(err)
	}
	syn, err := Open(DefaultConfig(), "val")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []Dataset{ds, syn} {
		for _, i := range []int{0, d.Len() - 1} {
			s, err := d.Sample(i)
			if err != nil {
				t.Fatal(err)
			}
			if id, err := SampleID(d, i); err != nil || id != s.ID {
				t.Errorf("SampleID(%d) = %q, %v; the sample's ID is %q", i, id, err, s.ID)
			}
		}
		if _, err := SampleID(d, d.Len()); err == nil {
			t.Error("SampleID past the end: no error")
		}
	}
}
