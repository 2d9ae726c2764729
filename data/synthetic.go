package data

import (
	"fmt"
	"hash/fnv"
	"math"
)

// Synthetic is the built-in dataset of procedural scenes: textured shapes on noisy
// gradient backgrounds. Sample i of a split is a pure function of (seed, split, i), so
// any sample can be regenerated alone and the set needs no storage.
//
// Why it is hard for a colour classifier: every colour (object fill, texture, background
// ends) is drawn uniformly from the RGB cube, independently of the class; only the
// shape — and, for ring versus disc or frame versus square, the hole around the centre —
// identifies the class. Objects overlap (later ones occlude earlier ones), are rotated and
// scaled, and contrast with what lies under them so that an FCN can see them.
type Synthetic struct {
	cfg   SyntheticConfig
	split string
	tag   uint64
	n     int
	names []string
}

// NewSynthetic returns the "train" (cfg.NTrain samples) or "val" (cfg.NVal) split.
// names optionally overrides the class names (it must have cfg.Classes entries).
func NewSynthetic(cfg SyntheticConfig, split string, names []string) (*Synthetic, error) {
	if errs := cfg.validate(); len(errs) > 0 {
		return nil, errs[0]
	}
	var n int
	switch split {
	case "train":
		n = cfg.NTrain
	case "val":
		n = cfg.NVal
	default:
		return nil, fmt.Errorf("data: synthetic split %q: the synthetic set has splits train and val", split)
	}
	if len(names) == 0 {
		names = SyntheticClassNames(cfg.Classes)
	} else if len(names) != cfg.Classes {
		return nil, fmt.Errorf("data.classes: %d names for %d synthetic classes", len(names), cfg.Classes)
	}
	h := fnv.New64a()
	h.Write([]byte(split))
	return &Synthetic{cfg: cfg, split: split, tag: h.Sum64(), n: n, names: names}, nil
}

func (s *Synthetic) Len() int             { return s.n }
func (s *Synthetic) ClassNames() []string { return s.names }

// id names scene i in messages and file names.
func (s *Synthetic) id(i int) string { return fmt.Sprintf("synthetic/%s/%06d", s.split, i) }

// Sample renders scene i.
func (s *Synthetic) Sample(i int) (Sample, error) {
	if i < 0 || i >= s.n {
		return Sample{}, fmt.Errorf("data: synthetic %s sample %d out of range [0, %d)", s.split, i, s.n)
	}
	size := s.cfg.Size
	smp := Sample{
		Image: make([]float32, Channels*size*size),
		Label: make([]int32, size*size),
		H:     size, W: size,
		ID: s.id(i),
	}
	s.render(newRNG(mix(s.cfg.Seed, s.tag, uint64(i))), smp.Image, smp.Label)
	return smp, nil
}

type rgb [3]float64

func randColour(r *rng) rgb { return rgb{r.uniform(0, 256), r.uniform(0, 256), r.uniform(0, 256)} }

func dist(a, b rgb) float64 {
	d0, d1, d2 := a[0]-b[0], a[1]-b[1], a[2]-b[2]
	return math.Sqrt(d0*d0 + d1*d1 + d2*d2)
}

// object is one placed shape.
type object struct {
	class   int
	cx, cy  float64 // centre, pixels
	r       float64 // radius, pixels
	cos     float64 // rotation
	sin     float64
	a, b    rgb // fill and texture colours
	texture int
	period  float64 // texture period, pixels
	tcos    float64 // texture direction
	tsin    float64
	noise   float64 // per-pixel fill noise (texture "noise")
}

const (
	texFlat = iota
	texStripes
	texChecker
	texDots
	texNoise
	texRadial
	numTextures
)

// minContrast is the least RGB distance between an object's colours and what lies under
// its centre, so that every object is visible.
const minContrast = 80

func (s *Synthetic) render(r *rng, img []float32, lab []int32) {
	size := s.cfg.Size
	n := size * size
	R, G, B := img[:n], img[n:2*n], img[2*n:]

	// Background: a linear gradient between two random colours, in a random direction.
	c0, c1 := randColour(r), randColour(r)
	ga := r.uniform(0, 2*math.Pi)
	gx, gy := math.Cos(ga)/float64(size), math.Sin(ga)/float64(size)
	half := float64(size) / 2
	bgAt := func(x, y float64) rgb {
		t := math.Min(1, math.Max(0, 0.5+(x-half)*gx+(y-half)*gy))
		return rgb{c0[0] + t*(c1[0]-c0[0]), c0[1] + t*(c1[1]-c0[1]), c0[2] + t*(c1[2]-c0[2])}
	}
	for y := range size {
		for x := range size {
			c := bgAt(float64(x)+0.5, float64(y)+0.5)
			k := y*size + x
			R[k], G[k], B[k] = float32(c[0]), float32(c[1]), float32(c[2])
		}
	}

	// Objects, placed so that they overlap only partly, painted in order.
	count := s.cfg.MinObjects + r.intn(s.cfg.MaxObjects-s.cfg.MinObjects+1)
	var placed []object
	for range count {
		o, ok := s.place(r, placed, bgAt)
		if !ok {
			continue
		}
		placed = append(placed, o)
		s.paint(r, o, R, G, B, lab)
	}

	// Sensor noise over everything.
	sigma := r.uniform(2, 5)
	for k := range img {
		v := float64(img[k]) + sigma*r.tri()
		if v < 0 {
			v = 0
		} else if v > 255 {
			v = 255
		}
		img[k] = float32(v)
	}
}

// place draws an object that overlaps earlier ones at most partly and contrasts with
// the background and the objects under it; ok is false when no such object was found.
func (s *Synthetic) place(r *rng, placed []object, bgAt func(x, y float64) rgb) (object, bool) {
	size := float64(s.cfg.Size)
	for range 30 {
		o := object{class: 1 + r.intn(s.cfg.Classes-1)}
		o.r = size * r.uniform(s.cfg.MinSize, s.cfg.MaxSize) / 2
		margin := 0.7 * o.r
		o.cx = r.uniform(math.Min(margin, size/2), math.Max(size-margin, size/2))
		o.cy = r.uniform(math.Min(margin, size/2), math.Max(size-margin, size/2))
		a := r.uniform(0, 2*math.Pi)
		o.cos, o.sin = math.Cos(a), math.Sin(a)
		o.a = randColour(r)
		for c := range 3 {
			o.b[c] = math.Min(255, math.Max(0, o.a[c]+r.uniform(-40, 40)))
		}
		o.texture = r.intn(numTextures)
		o.period = r.uniform(3, math.Max(4, o.r/1.5))
		ta := r.uniform(0, math.Pi)
		o.tcos, o.tsin = math.Cos(ta), math.Sin(ta)
		o.noise = r.uniform(10, 30)

		under := []rgb{bgAt(o.cx, o.cy)}
		good := true
		for _, p := range placed {
			d := math.Hypot(o.cx-p.cx, o.cy-p.cy)
			if d < 0.75*(o.r+p.r) {
				good = false // too much overlap: the occluded object would become unreadable
				break
			}
			if d < 1.2*(o.r+p.r) {
				under = append(under, p.a, p.b)
			}
		}
		for _, u := range under {
			if dist(o.a, u) < minContrast || dist(o.b, u) < minContrast*0.6 {
				good = false
			}
		}
		if good {
			return o, true
		}
	}
	return object{}, false
}

// paint draws o with its texture into the image and its class into the labels.
func (s *Synthetic) paint(r *rng, o object, R, G, B []float32, lab []int32) {
	size := s.cfg.Size
	in := shapes[o.class-1].inside
	ext := 1.2 * o.r
	x0, x1 := max(0, int(o.cx-ext)), min(size-1, int(o.cx+ext)+1)
	y0, y1 := max(0, int(o.cy-ext)), min(size-1, int(o.cy+ext)+1)
	inv := 1 / o.r
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			dx, dy := float64(x)+0.5-o.cx, float64(y)+0.5-o.cy
			u := (dx*o.cos + dy*o.sin) * inv
			v := (-dx*o.sin + dy*o.cos) * inv
			if !in(u, v) {
				continue
			}
			c := o.colourAt(r, dx, dy)
			k := y*size + x
			R[k], G[k], B[k] = float32(c[0]), float32(c[1]), float32(c[2])
			lab[k] = int32(o.class)
		}
	}
}

// colourAt is the object's texture at offset (dx, dy) from its centre.
func (o *object) colourAt(r *rng, dx, dy float64) rgb {
	s := (dx*o.tcos + dy*o.tsin) / o.period
	t := (-dx*o.tsin + dy*o.tcos) / o.period
	switch o.texture {
	case texStripes:
		if s-math.Floor(s) >= 0.5 {
			return o.b
		}
	case texChecker:
		if (int(math.Floor(s))+int(math.Floor(t)))&1 == 1 {
			return o.b
		}
	case texDots:
		fs, ft := s-math.Floor(s)-0.5, t-math.Floor(t)-0.5
		if fs*fs+ft*ft < 0.09 {
			return o.b
		}
	case texNoise:
		n := o.noise * r.tri()
		return rgb{o.a[0] + n, o.a[1] + n, o.a[2] + n}
	case texRadial:
		f := math.Min(1, math.Hypot(dx, dy)/o.r)
		return rgb{o.a[0] + f*(o.b[0]-o.a[0]), o.a[1] + f*(o.b[1]-o.a[1]), o.a[2] + f*(o.b[2]-o.a[2])}
	}
	return o.a
}
