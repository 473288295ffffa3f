package assets

import (
	"math"
	"sort"

	"github.com/vkassets/vkassets/vk"
)

// mipChain makes the levels of a mip chain of tightly packed RGBA8 pixels
// on the CPU, for formats the device cannot blit with a linear filter: each
// level halves the one above (each side floored, at least 1) with a 2×2
// box filter, clamped at the edges of odd sides. sRGB texels are averaged in
// linear light, as a blit of an sRGB format does; alpha is always linear.
// It returns every level, level 0 first, in one buffer, with the copy of
// each level.
func mipChain(pixels []byte, w, h, levels uint32, srgb bool) ([]byte, []vk.BufferImageCopy) {
	size := 0
	for i, lw, lh := uint32(0), w, h; i < levels; i, lw, lh = i+1, max(lw/2, 1), max(lh/2, 1) {
		size += int(lw) * int(lh) * 4
	}
	out := make([]byte, len(pixels), size)
	copy(out, pixels)
	regions := []vk.BufferImageCopy{{Width: w, Height: h}}
	prev := out[:len(pixels)]
	for i := uint32(1); i < levels; i++ {
		nw, nh := max(w/2, 1), max(h/2, 1)
		off := len(out)
		out = out[:off+int(nw)*int(nh)*4]
		halve(out[off:], prev, int(w), int(h), int(nw), int(nh), srgb)
		regions = append(regions, vk.BufferImageCopy{BufferOffset: uint64(off), MipLevel: i, Width: nw, Height: nh})
		prev, w, h = out[off:], nw, nh
	}
	return out, regions
}

// halve box-filters src (w×h) into dst (nw×nh).
func halve(dst, src []byte, w, h, nw, nh int, srgb bool) {
	for y := range nh {
		y0, y1 := min(2*y, h-1), min(2*y+1, h-1)
		for x := range nw {
			x0, x1 := min(2*x, w-1), min(2*x+1, w-1)
			p := [4]int{(y0*w + x0) * 4, (y0*w + x1) * 4, (y1*w + x0) * 4, (y1*w + x1) * 4}
			d := (y*nw + x) * 4
			for c := range 4 {
				if srgb && c < 3 {
					var sum float32
					for _, o := range p {
						sum += srgbToLinear[src[o+c]]
					}
					dst[d+c] = linearToSRGB(sum / 4)
					continue
				}
				sum := 2 // rounds to nearest
				for _, o := range p {
					sum += int(src[o+c])
				}
				dst[d+c] = byte(sum / 4)
			}
		}
	}
}

// srgbToLinear decodes each 8-bit sRGB value; srgbRound[b] is the linear
// value of the encoded (b+0.5)/255, where encoding rounds up to b+1.
var srgbToLinear, srgbRound = func() (dec, round [256]float32) {
	decode := func(v float64) float64 {
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	for i := range 256 {
		dec[i] = float32(decode(float64(i) / 255))
		round[i] = float32(decode((float64(i) + 0.5) / 255))
	}
	return dec, round
}()

// linearToSRGB encodes a linear value as the nearest 8-bit sRGB value.
func linearToSRGB(v float32) byte {
	return byte(sort.Search(255, func(b int) bool { return srgbRound[b] > v }))
}
