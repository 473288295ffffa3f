package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

var (
	chartBG      = color.RGBA{0xfa, 0xfa, 0xfa, 0xff}
	chartAxis    = color.RGBA{0x60, 0x60, 0x60, 0xff}
	chartGrid    = color.RGBA{0xe2, 0xe2, 0xe2, 0xff}
	chartLive    = color.RGBA{0x3b, 0x75, 0xc4, 0xff}
	chartPending = color.RGBA{0xe0, 0x8a, 0x2c, 0xff}
	chartSwitch  = color.RGBA{0xb0, 0x40, 0x60, 0xff}
)

// drawMemoryChart plots, frame by frame, the bytes in live allocations and
// the bytes released but waiting for the GPU, with the scene switches
// marked: the picture of deferred frees at work.
func drawMemoryChart(samples []sample, switches []int) *image.RGBA {
	const w, h, left, right, top, bottom = 900, 320, 70, 20, 40, 40
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(chartBG), image.Point{}, draw.Src)
	var peak uint64 = 1
	for _, s := range samples {
		peak = max(peak, s.live, s.pending)
	}
	plotW, plotH := w-left-right, h-top-bottom
	xOf := func(i int) int { return left + i*plotW/max(len(samples)-1, 1) }
	yOf := func(v uint64) int { return top + plotH - int(float64(v)/float64(peak)*float64(plotH)) }
	for k := 0; k <= 4; k++ {
		y := top + plotH*k/4
		for x := left; x < w-right; x++ {
			img.SetRGBA(x, y, chartGrid)
		}
		chartLabel(img, 4, y+4, bytesIEC(peak*uint64(4-k)/4))
	}
	for _, sw := range switches {
		x := xOf(sw)
		for y := top; y < top+plotH; y += 2 {
			img.SetRGBA(x, y, chartSwitch)
		}
	}
	line := func(get func(sample) uint64, c color.RGBA) {
		for i := 1; i < len(samples); i++ {
			chartSegment(img, xOf(i-1), yOf(get(samples[i-1])), xOf(i), yOf(get(samples[i])), c)
		}
	}
	line(func(s sample) uint64 { return s.pending }, chartPending)
	line(func(s sample) uint64 { return s.live }, chartLive)
	for x := left; x < w-right; x++ {
		img.SetRGBA(x, top+plotH, chartAxis)
	}
	for y := top; y <= top+plotH; y++ {
		img.SetRGBA(left, y, chartAxis)
	}
	chartLabel(img, left, 16, "device memory per frame")
	legend := []struct {
		c    color.RGBA
		name string
	}{{chartLive, "live allocations"}, {chartPending, "released, waiting for the GPU"}, {chartSwitch, "scene switch"}}
	x := left + 220
	for _, l := range legend {
		draw.Draw(img, image.Rect(x, 8, x+12, 20), image.NewUniform(l.c), image.Point{}, draw.Src)
		chartLabel(img, x+16, 18, l.name)
		x += 30 + 7*len(l.name)
	}
	chartLabel(img, left, h-12, fmt.Sprintf("frames 0 to %d", max(len(samples)-1, 0)))
	return img
}

func chartSegment(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	steps := max(abs(x1-x0), abs(y1-y0), 1)
	for s := 0; s <= steps; s++ {
		x := x0 + (x1-x0)*s/steps
		y := y0 + (y1-y0)*s/steps
		img.SetRGBA(x, y, c)
		img.SetRGBA(x, y+1, c)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func chartLabel(img *image.RGBA, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(chartAxis), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
