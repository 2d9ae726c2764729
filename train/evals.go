package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	fcndata "github.com/fcn-dev/fcn/data"
)

// Names of an evaluation's folder in a run folder: evals/step-NNNNNNN/ holds
// confusion.json, overlays.json, overlay-NN.png and (log.plots) confusion.png.
const (
	EvalsDir      = "evals"
	ConfusionFile = "confusion.json"
	OverlaysFile  = "overlays.json"
	// OverlayImages is how many images of the eval split get prediction overlays: the
	// first ones in the split's order, the same ones at every evaluation.
	OverlayImages = 4
)

// EvalDirName is the folder of the evaluation after step updates, like a checkpoint's:
// step-0000400.
func EvalDirName(step int) string { return fmt.Sprintf("step-%07d", step) }

// ConfusionJSON is confusion.json: the eval split's confusion matrix (rows are the true
// class, columns the predicted class, in pixels; ignored pixels are not counted) and
// the metrics computed from it (NaN as null).
type ConfusionJSON struct {
	Step     int         `json:"step"`
	Split    string      `json:"split"`
	Classes  []string    `json:"classes"`
	Matrix   [][]int64   `json:"matrix"`
	IoU      []nullFloat `json:"iou"`
	MIoU     nullFloat   `json:"miou"`
	PixelAcc nullFloat   `json:"pixel_acc"`
	MeanAcc  nullFloat   `json:"mean_acc"`
	FWIoU    nullFloat   `json:"fwiou"`
	Ignored  int64       `json:"ignored"`
}

// OverlayJSON is an entry of overlays.json.
type OverlayJSON struct {
	File string `json:"file"`
	ID   string `json:"id"` // the image's id in the dataset (its file)
}

// overlay is one prediction picture of an evaluation (OverlayPicture: the blended
// image, scaled up when small, and a class legend), h×w pixels.
type overlay struct {
	id   string
	png  []byte
	h, w int
}

// predictOverlays segments the first OverlayImages images of ds with g (which is left in
// evaluation mode) and renders each blended with its predicted classes' colours, with a
// legend of those classes. They are a forward pass of their own, apart from Evaluate, so
// that how Evaluate goes through the split does not change them.
func predictOverlays(ctx context.Context, g *autodiff.Graph, exp *configs.Experiment, tf *fcndata.Transforms, fit *sizeFitter, ds fcndata.Dataset) ([]overlay, error) {
	g.SetTraining(false)
	var out []overlay
	for i := range min(OverlayImages, ds.Len()) {
		s, err := ds.Sample(i)
		if err != nil {
			return nil, fmt.Errorf("overlay of image %d: %w", i, err)
		}
		p, err := predictImage(ctx, g, exp, tf, fit, s.Image, s.H, s.W)
		if err != nil {
			return nil, fmt.Errorf("overlay of %s: %w", s.ID, err)
		}
		pic := OverlayPicture(s.Image, p.Labels, s.H, s.W, fcndata.VOCPalette, ds.ClassNames())
		b, err := encodePNG(pic)
		if err != nil {
			return nil, err
		}
		out = append(out, overlay{id: s.ID, png: b, h: pic.Bounds().Dy(), w: pic.Bounds().Dx()})
	}
	return out, nil
}

type namedFile struct {
	name string
	data []byte
}

// writeEvalDir writes evals/step-NNNNNNN/ for res: into a temporary folder first, then
// renamed, so that a folder of that name is always whole. An older folder of that step
// (from a session that was stopped and resumed) is replaced.
// With pictures (the run as the pictures' titles name it; "" for none), it holds
// confusion.png too.
func writeEvalDir(runDir string, step int, res *EvalResult, overlays []overlay, pictures string) error {
	parent := filepath.Join(runDir, EvalsDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("evals folder: %w", err)
	}
	name := EvalDirName(step)
	tmp, err := os.MkdirTemp(parent, ".tmp-"+name+"-")
	if err != nil {
		return fmt.Errorf("evals folder: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	c := res.Confusion
	m := res.Metrics
	cj := ConfusionJSON{Step: step, Split: res.Split, Classes: res.Classes,
		IoU: toNull(m.IoU), MIoU: nullFloat(m.MeanIoU), PixelAcc: nullFloat(m.PixelAcc),
		MeanAcc: nullFloat(m.MeanAcc), FWIoU: nullFloat(m.FWIoU)}
	if c != nil {
		cj.Ignored = c.Ignored
		for g := range c.Classes {
			cj.Matrix = append(cj.Matrix, append([]int64(nil), c.Hist[g*c.Classes:(g+1)*c.Classes]...))
		}
	}
	b, err := json.MarshalIndent(cj, "", " ")
	if err != nil {
		return err
	}
	files := []namedFile{{ConfusionFile, b}}
	if pictures != "" && len(cj.Matrix) > 0 {
		pic, err := confusionPNG(&cj, pictures)
		if err != nil {
			return fmt.Errorf("evaluation at step %d: %w", step, err)
		}
		files = append(files, namedFile{ConfusionPNG, pic})
	}
	list := []OverlayJSON{}
	for i, o := range overlays {
		f := fmt.Sprintf("overlay-%02d.png", i)
		list = append(list, OverlayJSON{File: f, ID: o.id})
		files = append(files, namedFile{f, o.png})
	}
	if b, err = json.MarshalIndent(list, "", " "); err != nil {
		return err
	}
	files = append(files, namedFile{OverlaysFile, b})
	for _, f := range files {
		data := f.data
		if err := checkpoints.WriteFileAtomic(filepath.Join(tmp, f.name), func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}); err != nil {
			return err
		}
	}
	final := filepath.Join(parent, name)
	if err := os.RemoveAll(final); err != nil {
		return fmt.Errorf("replacing %s: %w", final, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("evals folder: %w", err)
	}
	return nil
}

// trimEvals removes the evaluation folders a resumed run will write again: those after
// step, and the one at step unless keepAtStep (the checkpoint's evaluation was finished).
func trimEvals(runDir string, step int, keepAtStep bool) error {
	dir := filepath.Join(runDir, EvalsDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			os.RemoveAll(filepath.Join(dir, name))
			continue
		}
		s, ok := strings.CutPrefix(name, "step-")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			continue
		}
		if n > step || (n == step && !keepAtStep) {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}
