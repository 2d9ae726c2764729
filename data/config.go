package data

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Formats the data section accepts.
const (
	FormatSynthetic = "synthetic"
	FormatVOC       = "voc"
	FormatFolder    = "folder"
)

// Normalisation modes of TransformConfig.Normalize.
const (
	NormNone    = "none"    // RGB, scaled to [0, 1]
	NormMeanStd = "meanstd" // RGB, (x/255 − mean)/std per channel
	NormCaffe   = "caffe"   // FCN's: BGR order, 0–255 range, minus the BGR mean
)

// VOCBGRMean is the per-channel mean (B, G, R; 0–255) the FCN reference subtracts.
var VOCBGRMean = []float64{104.00699, 116.66877, 122.67892}

// Config is the `data` section of an experiment. The configs package embeds it; the
// yaml tags are the keys, DefaultConfig gives the defaults and Validate
// checks it before any work starts.
type Config struct {
	// Format is synthetic, voc or folder.
	Format string `yaml:"format"`
	// Root is the dataset folder (voc, folder).
	Root string `yaml:"root"`
	// Images and Masks are the folder format's image and mask folders, relative to Root
	// unless absolute; "{split}" in them is replaced by the split name. Without "{split}"
	// the same folders serve every split.
	Images string `yaml:"images"`
	Masks  string `yaml:"masks"`
	// TrainSplit and ValSplit name the splits (VOC: ImageSets/Segmentation/<split>.txt).
	TrainSplit string `yaml:"train_split"`
	ValSplit   string `yaml:"val_split"`
	// Classes optionally names the classes (index = class id); its length is then the
	// class count. Empty: NumClasses, else the format's own (VOC's 21 names, the
	// synthetic shapes).
	Classes []string `yaml:"classes"`
	// NumClasses gives the class count when Classes is empty (names become class0, ...).
	// The trainer may fill it from model.classes.
	NumClasses int `yaml:"num_classes"`
	// IgnoreLabel is the label value that marks pixels to ignore (VOC: 255). Mask values
	// equal to it pass through unchanged; crops pad labels with it.
	IgnoreLabel int `yaml:"ignore_label"`
	// Prefetch is how many batches the loader prepares ahead of the trainer.
	Prefetch int `yaml:"prefetch"`

	Transforms TransformConfig `yaml:"transforms"`
	Synthetic  SyntheticConfig `yaml:"synthetic"`
}

// TransformConfig is the augmentation and normalisation of training samples. Evaluation
// applies only the normalisation.
type TransformConfig struct {
	// ScaleMin and ScaleMax bound the random rescale factor (1, 1: none).
	ScaleMin float64 `yaml:"scale_min"`
	ScaleMax float64 `yaml:"scale_max"`
	// Crop is the side of the random square training crop; images smaller than it are
	// padded (image with the mean, label with the ignore label). 0: native size.
	Crop int `yaml:"crop"`
	// Flip mirrors training samples left–right with probability 1/2.
	Flip bool `yaml:"flip"`
	// Normalize is none, meanstd or caffe (see the Norm* constants).
	Normalize string `yaml:"normalize"`
	// Mean and Std are per RGB channel on the [0, 1] scale (meanstd).
	Mean []float64 `yaml:"mean"`
	Std  []float64 `yaml:"std"`
	// BGRMean is per B, G, R channel on the 0–255 scale (caffe).
	BGRMean []float64 `yaml:"bgr_mean"`
}

// SyntheticConfig shapes the built-in synthetic scenes.
type SyntheticConfig struct {
	NTrain int `yaml:"n_train"`
	NVal   int `yaml:"n_val"`
	// Size is the side of the square images, in pixels.
	Size int `yaml:"size"`
	// Classes counts background plus object shapes (2 ≤ Classes ≤ 1+len(shapes)).
	Classes int    `yaml:"classes"`
	Seed    uint64 `yaml:"seed"`
	// MinObjects and MaxObjects bound the number of objects a scene holds.
	MinObjects int `yaml:"min_objects"`
	MaxObjects int `yaml:"max_objects"`
	// MinSize and MaxSize bound an object's diameter as a fraction of the image side.
	MinSize float64 `yaml:"min_size"`
	MaxSize float64 `yaml:"max_size"`
}

// DefaultConfig is the data section with every default filled: the synthetic set.
func DefaultConfig() Config {
	return Config{
		Format:      FormatSynthetic,
		Images:      "images/{split}",
		Masks:       "masks/{split}",
		TrainSplit:  "train",
		ValSplit:    "val",
		IgnoreLabel: 255,
		Prefetch:    4,
		Transforms:  DefaultTransformConfig(),
		Synthetic:   DefaultSyntheticConfig(),
	}
}

// DefaultTransformConfig flips but neither rescales nor crops, and normalises with the
// ImageNet mean and std.
func DefaultTransformConfig() TransformConfig {
	return TransformConfig{
		ScaleMin:  1,
		ScaleMax:  1,
		Flip:      true,
		Normalize: NormMeanStd,
		Mean:      []float64{0.485, 0.456, 0.406},
		Std:       []float64{0.229, 0.224, 0.225},
		BGRMean:   append([]float64(nil), VOCBGRMean...),
	}
}

// DefaultSyntheticConfig is sized so that a small FCN learns it in minutes on a CPU:
// large objects (45–70% of the side), one or two a scene, and many training scenes —
// they cost nothing to store, and with few scenes a small net memorises their colours
// and textures instead of learning shapes (measured: 512 scenes overfit within 600 steps).
func DefaultSyntheticConfig() SyntheticConfig {
	return SyntheticConfig{
		NTrain:     10000,
		NVal:       256,
		Size:       64,
		Classes:    5,
		Seed:       1,
		MinObjects: 1,
		MaxObjects: 2,
		MinSize:    0.45,
		MaxSize:    0.7,
	}
}

// Validate checks every field and reports all problems at once, each naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("data.%s: "+format, append([]any{key}, args...)...))
	}
	switch c.Format {
	case FormatSynthetic:
		errs = append(errs, c.Synthetic.validate()...)
	case FormatVOC, FormatFolder:
		if c.Root == "" {
			bad("root", "required for format %q (the dataset folder)", c.Format)
		}
	default:
		bad("format", "must be one of synthetic, voc, folder; got %q", c.Format)
	}
	if c.Format == FormatFolder {
		if c.Images == "" {
			bad("images", "required for format folder")
		}
		if c.Masks == "" {
			bad("masks", "required for format folder")
		}
		// A relative folder lies under data.root; one that climbs out of it (../x) is
		// refused (an absolute path says plainly where it is, and is allowed). The
		// split's name is substituted as the loader will, so train_split: ../x counts.
		for _, k := range []struct{ key, dir string }{{"images", c.Images}, {"masks", c.Masks}} {
			for _, split := range []string{c.TrainSplit, c.ValSplit} {
				d := strings.ReplaceAll(k.dir, "{split}", split)
				if d != "" && !filepath.IsAbs(d) && !filepath.IsLocal(d) {
					bad(k.key, "%q (for split %q) leads out of data.root: give a folder inside it, or an absolute path", d, split)
					break
				}
			}
		}
		if len(c.Classes) == 0 && c.NumClasses == 0 {
			bad("classes", "format folder needs the classes (names) or data.num_classes")
		}
	}
	if c.TrainSplit == "" {
		bad("train_split", "must not be empty")
	}
	if c.ValSplit == "" {
		bad("val_split", "must not be empty")
	}
	// Split names become file names under data.root (ImageSets/Segmentation/<split>.txt).
	for _, k := range []struct{ key, split string }{{"train_split", c.TrainSplit}, {"val_split", c.ValSplit}} {
		if k.split != "" && c.Format != FormatSynthetic && !filepath.IsLocal(k.split) {
			bad(k.key, "%q leads out of data.root: a split is a name such as train or val", k.split)
		}
	}
	if c.NumClasses < 0 {
		bad("num_classes", "must be ≥ 0, got %d", c.NumClasses)
	}
	if c.Format != FormatSynthetic && len(c.Classes) > 0 && c.NumClasses > 0 && len(c.Classes) != c.NumClasses {
		bad("classes", "names %d classes but data.num_classes is %d", len(c.Classes), c.NumClasses)
	}
	for i, n := range c.Classes {
		if strings.TrimSpace(n) == "" {
			bad("classes", "name %d is empty", i)
		}
	}
	if c.IgnoreLabel < 0 || c.IgnoreLabel > 65535 {
		bad("ignore_label", "must be in [0, 65535], got %d", c.IgnoreLabel)
	}
	if names, err := c.ClassNames(); err != nil {
		// Missing folder classes and out-of-range synthetic.classes are reported above.
		if c.Format == FormatVOC || c.Format == FormatSynthetic && c.Synthetic.Classes >= 2 && c.Synthetic.Classes <= 1+len(shapes) {
			errs = append(errs, err)
		}
	} else if n := len(names); c.IgnoreLabel >= 0 && c.IgnoreLabel < n {
		bad("ignore_label", "%d is a class id (there are %d classes); use a value ≥ %d such as 255", c.IgnoreLabel, n, n)
	}
	if c.Prefetch < 1 {
		bad("prefetch", "must be ≥ 1, got %d", c.Prefetch)
	}
	errs = append(errs, c.Transforms.validate()...)
	return errors.Join(errs...)
}

func (t TransformConfig) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("data.transforms.%s: "+format, append([]any{key}, args...)...))
	}
	if !(t.ScaleMin > 0) {
		bad("scale_min", "must be > 0, got %g", t.ScaleMin)
	}
	if !(t.ScaleMax >= t.ScaleMin) {
		bad("scale_max", "must be ≥ scale_min (%g), got %g", t.ScaleMin, t.ScaleMax)
	}
	if t.ScaleMax > 8 {
		bad("scale_max", "must be ≤ 8, got %g", t.ScaleMax)
	}
	if t.Crop < 0 {
		bad("crop", "must be ≥ 0 (0: native size), got %d", t.Crop)
	}
	switch t.Normalize {
	case NormNone:
	case NormMeanStd:
		if len(t.Mean) != 3 {
			bad("mean", "needs 3 values (R, G, B on the 0–1 scale), got %d", len(t.Mean))
		}
		if len(t.Std) != 3 {
			bad("std", "needs 3 values (R, G, B on the 0–1 scale), got %d", len(t.Std))
		}
		for i, s := range t.Std {
			if !(s > 0) {
				bad("std", "value %d must be > 0, got %g", i, s)
			}
		}
	case NormCaffe:
		if len(t.BGRMean) != 3 {
			bad("bgr_mean", "needs 3 values (B, G, R on the 0–255 scale), got %d", len(t.BGRMean))
		}
	default:
		bad("normalize", "must be one of none, meanstd, caffe; got %q", t.Normalize)
	}
	return errs
}

func (s SyntheticConfig) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("data.synthetic.%s: "+format, append([]any{key}, args...)...))
	}
	if s.NTrain < 1 {
		bad("n_train", "must be ≥ 1, got %d", s.NTrain)
	}
	if s.NVal < 1 {
		bad("n_val", "must be ≥ 1, got %d", s.NVal)
	}
	if s.Size < 16 || s.Size > 4096 {
		bad("size", "must be in [16, 4096] pixels, got %d", s.Size)
	}
	if max := 1 + len(shapes); s.Classes < 2 || s.Classes > max {
		bad("classes", "must be in [2, %d] (background + up to %d shapes), got %d", max, len(shapes), s.Classes)
	}
	if s.MinObjects < 0 {
		bad("min_objects", "must be ≥ 0, got %d", s.MinObjects)
	}
	if s.MaxObjects < s.MinObjects || s.MaxObjects < 1 || s.MaxObjects > 32 {
		bad("max_objects", "must be in [max(1, min_objects), 32], got %d", s.MaxObjects)
	}
	if !(s.MinSize > 0 && s.MinSize <= 1) {
		bad("min_size", "must be in (0, 1] (fraction of the image side), got %g", s.MinSize)
	}
	if !(s.MaxSize >= s.MinSize && s.MaxSize <= 1) {
		bad("max_size", "must be in [min_size, 1], got %g", s.MaxSize)
	}
	return errs
}

// ClassNames resolves the class names: Classes if given, else NumClasses generic names,
// else the format's own (VOC's 21; the synthetic shapes, whose count is
// synthetic.classes and must agree with Classes or NumClasses when those are set).
func (c Config) ClassNames() ([]string, error) {
	if c.Format == FormatSynthetic {
		n := c.Synthetic.Classes
		if n < 2 || n > 1+len(shapes) {
			return nil, fmt.Errorf("data.synthetic.classes: must be in [2, %d], got %d", 1+len(shapes), n)
		}
		if len(c.Classes) > 0 && len(c.Classes) != n {
			return nil, fmt.Errorf("data.classes: names %d classes but data.synthetic.classes is %d", len(c.Classes), n)
		}
		if c.NumClasses > 0 && c.NumClasses != n {
			return nil, fmt.Errorf("data.num_classes: %d, but data.synthetic.classes is %d", c.NumClasses, n)
		}
		if len(c.Classes) > 0 {
			return append([]string(nil), c.Classes...), nil
		}
		return SyntheticClassNames(n), nil
	}
	if len(c.Classes) > 0 {
		return append([]string(nil), c.Classes...), nil
	}
	if c.NumClasses > 0 {
		if c.Format == FormatVOC && c.NumClasses == len(VOCClassNames) {
			return append([]string(nil), VOCClassNames...), nil
		}
		return genericNames(c.NumClasses), nil
	}
	if c.Format == FormatVOC {
		return append([]string(nil), VOCClassNames...), nil
	}
	return nil, fmt.Errorf("data.classes: format %q needs the class names or data.num_classes", c.Format)
}

func genericNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("class%d", i)
	}
	return names
}
