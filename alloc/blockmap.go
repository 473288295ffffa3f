package alloc

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Colours of the block map, by what a range holds.
var (
	colorBackground = color.RGBA{0xfa, 0xfa, 0xfa, 0xff}
	colorText       = color.RGBA{0x20, 0x20, 0x20, 0xff}
	colorFree       = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	colorBorder     = color.RGBA{0x70, 0x70, 0x70, 0xff}
	colorBuffer     = color.RGBA{0x3b, 0x75, 0xc4, 0xff}
	colorImage      = color.RGBA{0x4c, 0xa8, 0x5a, 0xff}
	colorUnknown    = color.RGBA{0xa0, 0x6c, 0xc8, 0xff}
	colorDedicated  = color.RGBA{0xe0, 0x8a, 0x2c, 0xff}
)

func kindColor(k Kind) color.RGBA {
	switch k {
	case KindLinear:
		return colorBuffer
	case KindOptimal:
		return colorImage
	}
	return colorUnknown
}

const (
	mapWidth   = 1200
	mapMargin  = 12
	barHeight  = 18
	rowHeight  = 44
	headerRows = 3
)

// DrawBlockMap draws blocks as horizontal bars, one per VkDeviceMemory,
// scaled to the largest block: buffers blue, images green, unknown purple,
// dedicated allocations orange, free space grey. Ranges narrower than a
// pixel still get one.
func DrawBlockMap(title string, blocks []BlockInfo) *image.RGBA {
	height := mapMargin*2 + headerRows*16 + max(len(blocks), 1)*rowHeight
	img := image.NewRGBA(image.Rect(0, 0, mapWidth, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(colorBackground), image.Point{}, draw.Src)
	label(img, mapMargin, mapMargin+11, title)
	x := mapMargin
	for _, l := range []struct {
		c    color.RGBA
		name string
	}{{colorBuffer, "buffer"}, {colorImage, "optimal image"}, {colorUnknown, "unknown kind"}, {colorDedicated, "dedicated"}, {colorFree, "free"}} {
		fill(img, image.Rect(x, mapMargin+20, x+12, mapMargin+32), l.c)
		label(img, x+16, mapMargin+30, l.name)
		x += 24 + 7*len(l.name)
	}
	var largest uint64
	for _, b := range blocks {
		largest = max(largest, b.Size)
	}
	if len(blocks) == 0 {
		label(img, mapMargin, mapMargin+headerRows*16+14, "no device memory allocated")
		return img
	}
	barMax := mapWidth - 2*mapMargin
	for i, b := range blocks {
		y := mapMargin + headerRows*16 + i*rowHeight
		used, allocs := uint64(0), 0
		for _, r := range b.Ranges {
			if !r.Free {
				used += r.Size
				allocs++
			}
		}
		desc := fmt.Sprintf("type %d block %d: %s, %d allocations, %.0f%% used", b.MemoryType, b.ID, sizeLabel(b.Size), allocs, 100*float64(used)/float64(b.Size))
		if b.Dedicated {
			desc = fmt.Sprintf("type %d dedicated %q: %s", b.MemoryType, b.Name, sizeLabel(b.Size))
		}
		if b.Pool != "" {
			desc = "pool " + b.Pool + ", " + desc
		}
		label(img, mapMargin, y+12, desc)
		w := max(int(float64(barMax)*float64(b.Size)/float64(largest)), 2)
		bar := image.Rect(mapMargin, y+18, mapMargin+w, y+18+barHeight)
		fill(img, bar, colorFree)
		for _, r := range b.Ranges {
			if r.Free {
				continue
			}
			c := kindColor(r.Kind)
			if b.Dedicated {
				c = colorDedicated
			}
			x0 := bar.Min.X + int(float64(w)*float64(r.Offset)/float64(b.Size))
			x1 := bar.Min.X + int(float64(w)*float64(r.Offset+r.Size)/float64(b.Size))
			fill(img, image.Rect(x0, bar.Min.Y, max(x1, x0+1), bar.Max.Y), c)
		}
		outline(img, bar, colorBorder)
	}
	return img
}

// WriteBlockMapPNG draws the allocator's blocks (DrawBlockMap) as a PNG.
func (a *Allocator) WriteBlockMapPNG(w io.Writer) error {
	s := a.Stats()
	title := fmt.Sprintf("%s: %d blocks, %s of %s in use, %d vkAllocateMemory calls",
		a.phys.Name, s.DeviceAllocations, sizeLabel(s.Total.AllocationBytes), sizeLabel(s.Total.BlockBytes), s.AllocateCalls)
	return png.Encode(w, DrawBlockMap(title, a.Blocks()))
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func outline(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for x := r.Min.X; x < r.Max.X; x++ {
		img.SetRGBA(x, r.Min.Y, c)
		img.SetRGBA(x, r.Max.Y-1, c)
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		img.SetRGBA(r.Min.X, y, c)
		img.SetRGBA(r.Max.X-1, y, c)
	}
}

func label(img *image.RGBA, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(colorText), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func sizeLabel(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
