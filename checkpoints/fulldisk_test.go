package checkpoints

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fullDisk is a disk with room for only `left` more bytes: a write past that fails as
// a full file system's does, with ENOSPC.
type fullDisk struct{ left *int64 }

type fullFile struct {
	*os.File
	left *int64
}

func (d fullDisk) create(path string) (syncFile, error) {
	f, err := osDisk{}.create(path)
	if err != nil {
		return nil, err
	}
	return &fullFile{File: f.(*os.File), left: d.left}, nil
}

func (f *fullFile) Write(p []byte) (int, error) {
	if int64(len(p)) > *f.left {
		n := int(*f.left)
		f.File.Write(p[:n])
		*f.left = 0
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	*f.left -= int64(len(p))
	return f.File.Write(p)
}

// TestSaveFullDisk: the disk fills while each file of a checkpoint is written in turn;
// each time the save fails with an error saying so, leaves nothing behind, and the
// previous checkpoint is still the newest intact one, loading bit for bit.
func TestSaveFullDisk(t *testing.T) {
	dir := t.TempDir()
	ck := sample(1, 0.5)
	if _, err := Save(dir, ck, Retention{}); err != nil {
		t.Fatal(err)
	}
	before, err := Load(filepath.Join(dir, DirName, StepName(1)))
	if err != nil {
		t.Fatal(err)
	}
	// The disk fills in the model file, in the optimizer file, and in state.json.
	m, o := before.State.Files[ModelFile].Size, before.State.Files[OptimizerFile].Size
	for _, room := range []int64{0, m / 2, m + o/2, m + o + 10} {
		t.Run(fmt.Sprint(room), func(t *testing.T) {
			left := room
			_, err := save(fullDisk{&left}, dir, sample(2, 0.6), Retention{})
			if err == nil {
				t.Fatalf("%d bytes were enough for the whole checkpoint", room)
			}
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "disk is full") || !strings.Contains(err.Error(), StepName(2)) {
				t.Errorf("error %v", err)
			}
			ents, _ := os.ReadDir(filepath.Join(dir, DirName))
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), tmpPrefix) || e.Name() == StepName(2) {
					t.Errorf("left behind: %s", e.Name())
				}
			}
			ck, path, warnings, err := LoadLatestIntact(dir)
			if err != nil || ck.State.Step != 1 || len(warnings) > 0 {
				t.Fatalf("after the failed save: %v, %s, %v", err, path, warnings)
			}
			if !equalTensors(ck.Model, before.Model) || !equalTensors(ck.Optimizer, before.Optimizer) {
				t.Error("the previous checkpoint changed")
			}
		})
	}
}

func equalTensors(a, b []Tensor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || len(a[i].Data) != len(b[i].Data) {
			return false
		}
		for j := range a[i].Data {
			if a[i].Data[j] != b[i].Data[j] {
				return false
			}
		}
	}
	return true
}
