package render

import "math"

// Mat4 is a column-major 4×4 matrix.
type Mat4 [16]float32

// Identity is the identity matrix.
func Identity() Mat4 { return Mat4{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1} }

// Mul is a×b.
func (a Mat4) Mul(b Mat4) Mat4 {
	var out Mat4
	for c := range 4 {
		for r := range 4 {
			var s float32
			for k := range 4 {
				s += a[k*4+r] * b[c*4+k]
			}
			out[c*4+r] = s
		}
	}
	return out
}

// Translate moves by (x, y, z).
func Translate(x, y, z float32) Mat4 {
	m := Identity()
	m[12], m[13], m[14] = x, y, z
	return m
}

// Scale scales by s on every axis.
func Scale(s float32) Mat4 {
	return Mat4{s, 0, 0, 0, 0, s, 0, 0, 0, 0, s, 0, 0, 0, 0, 1}
}

// RotateY and RotateX turn by angle radians.
func RotateY(angle float32) Mat4 {
	c, s := float32(math.Cos(float64(angle))), float32(math.Sin(float64(angle)))
	return Mat4{c, 0, -s, 0, 0, 1, 0, 0, s, 0, c, 0, 0, 0, 0, 1}
}

// RotateX turns about the x axis.
func RotateX(angle float32) Mat4 {
	c, s := float32(math.Cos(float64(angle))), float32(math.Sin(float64(angle)))
	return Mat4{1, 0, 0, 0, 0, c, s, 0, 0, -s, c, 0, 0, 0, 0, 1}
}

// Orthographic maps the box [-w,w]×[-h,h]×[0.. depth] to Vulkan's clip space
// (depth 0..1).
func Orthographic(w, h, depth float32) Mat4 {
	return Mat4{1 / w, 0, 0, 0, 0, 1 / h, 0, 0, 0, 0, 0.5 / depth, 0, 0, 0, 0.5, 1}
}

// srgbToLinear decodes an sRGB colour component in [0, 1].
func srgbToLinear(v float32) float32 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return float32(math.Pow((float64(v)+0.055)/1.055, 2.4))
}
