//go:build !amd64

package vecmath

const hasAVX512 = false

func expSubAcc16(dst, x, m *float32, se *float64, n int) { panic("vecmath: no AVX-512 here") }

func relu16(dst, src *float32, n int)      { panic("vecmath: no AVX-512 here") }
func reluBack16(dx, y, dy *float32, n int) { panic("vecmath: no AVX-512 here") }
