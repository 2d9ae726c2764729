package train

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/interop/initmap"
	"github.com/fcn-dev/fcn/interop/torch"
)

// initWeights is what an --init-from reader found: float tensors, and the names of
// integer ones (which fcn has none of, so maps drop them with a note).
type initWeights struct {
	tensors []checkpoints.Tensor
	ints    []string
	src     string // the file read
}

// initReader reads one format of --init-from files, recognised by the file's first
// bytes or its name.
type initReader struct {
	format string
	match  func(path string, head []byte) bool
	read   func(path string) (initWeights, error)
}

// InitFormat is one more --init-from file format, given by a package train cannot import
// (interop/caffe builds its nets with train, so its caffemodel reader comes in through
// Options.InitFormats rather than by an import here).
type InitFormat struct {
	Name  string                                          // for messages: "Caffe (caffemodel)"
	Match func(path string, head []byte) bool             // head: the file's first 16 bytes
	Read  func(path string) ([]checkpoints.Tensor, error) // errors name the file
}

// initReaders are the --init-from file formats, tried in order: PyTorch's, then extra.
// A folder or anything unmatched goes to checkpoints.LoadWeights (safetensors, checkpoint
// and run folders), exactly as before.
func initReaders(extra []InitFormat) []initReader {
	rs := []initReader{{"PyTorch (torch.save)", isTorchFile, readTorch}}
	for _, f := range extra {
		read := f.Read
		rs = append(rs, initReader{f.Name, f.Match, func(path string) (initWeights, error) {
			ts, err := read(path)
			if err != nil {
				return initWeights{}, fmt.Errorf("init weights: %w", err)
			}
			return initWeights{tensors: ts, src: path}, nil
		}})
	}
	return rs
}

func isTorchFile(path string, head []byte) bool {
	switch strings.ToLower(extOf(path)) {
	case ".pth", ".pt", ".bin", ".ckpt", ".tar":
		return true
	case ".safetensors":
		return false
	}
	return torch.IsPickle(head)
}

func extOf(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 && !strings.ContainsAny(path[i:], `/\`) {
		return path[i:]
	}
	return ""
}

func readTorch(path string) (initWeights, error) {
	sd, err := torch.ReadStateDict(path)
	if err != nil {
		return initWeights{}, fmt.Errorf("init weights: %w", err)
	}
	w := initWeights{tensors: sd.Tensors, src: path}
	if sd.Under != "" {
		w.src = fmt.Sprintf("%s[%q]", path, sd.Under)
	}
	for _, t := range sd.Ints {
		w.ints = append(w.ints, t.Name)
	}
	return w, nil
}

// loadInitWeights reads path with the reader its format needs.
func loadInitWeights(path string, extra []InitFormat) (initWeights, error) {
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		head := make([]byte, 16)
		if f, err := os.Open(path); err == nil {
			n, _ := io.ReadFull(f, head)
			head = head[:n]
			f.Close()
		}
		for _, r := range initReaders(extra) {
			if r.match(path, head) {
				return r.read(path)
			}
		}
	}
	ts, src, err := checkpoints.LoadWeights(path)
	return initWeights{tensors: ts, src: src}, err
}

// LoadInit reads --init-from's weights (in one of the formats loadInitWeights knows, or
// of extra), renames them by --init-map (or drops integer tensors, which fcn has none
// of), matches them to g's tensors (strict unless partial) and copies them in,
// reporting to out. It is the one path the trainer takes.
func LoadInit(g *autodiff.Graph, from, mapName string, partial bool, extra []InitFormat, out io.Writer) error {
	w, err := loadInitWeights(from, extra)
	if err != nil {
		return err
	}
	src := w.src
	var m *initmap.Map
	if mapName != "" {
		if m, err = initmap.Load(mapName); err != nil {
			return fmt.Errorf("--init-from %s: %w", src, err)
		}
	}
	shapes := ModelShapes(g)
	ts := w.tensors
	var mapped string
	if m != nil || len(w.ints) > 0 {
		res, err := initmap.Apply(m, w.tensors, w.ints, shapes)
		if err != nil {
			return fmt.Errorf("--init-from %s: %w", src, err)
		}
		ts, mapped = res.Tensors, res.String()+"\n"
	}
	mode := checkpoints.Strict
	if partial {
		mode = checkpoints.Partial
	}
	rep, err := checkpoints.MatchWeights(ts, shapes, mode)
	if err != nil {
		return fmt.Errorf("--init-from %s: %s%w", src, mapped, err)
	}
	if err := SetModelState(g, rep.Loaded); err != nil {
		return fmt.Errorf("--init-from %s: %w", src, err)
	}
	fmt.Fprintf(out, "init from %s: %s%s\n", src, mapped, rep)
	if len(rep.Missing) > 0 {
		fmt.Fprintf(out, "tensors missing from the file keep their random initialisation\n")
	}
	return nil
}
