package assets

import (
	"context"
	"fmt"

	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// Sampler is a VkSampler, an asset shared by everything that samples with
// the same parameters: it is cached under a key made of them (not of any
// bundle), so that two materials, or two glTF files, with the same filters
// and wrap modes use one sampler. Materials depend on it.
type Sampler struct {
	Base
	Info    vk.SamplerInfo
	Sampler vk.Sampler
}

// GPUObjects is the sampler.
func (s *Sampler) GPUObjects() []framesync.Object {
	return []framesync.Object{framesync.Sampler(s.Sampler).Named(s.name)}
}

// samplerKey is the cache key of a sampler with info's parameters. It
// starts with '#', which no bundle key does.
func samplerKey(info vk.SamplerInfo) string {
	base := ""
	if info.BaseLevelOnly {
		base = "/base"
	}
	return fmt.Sprintf("#sampler/mag%d.min%d.mip%d.u%d.v%d%s",
		info.MagFilter, info.MinFilter, info.MipmapMode, info.AddressU, info.AddressV, base)
}

// LoadSampler returns the sampler with info's parameters, from the cache or
// made once. Like any loaded asset it starts with no reference: what
// depends on it holds it (or Acquire it with AddRef).
func (m *Manager) LoadSampler(ctx context.Context, info vk.SamplerInfo) (*Sampler, error) {
	key := samplerKey(info)
	a, err := m.load(ctx, key, func(context.Context) (Asset, error) {
		return asAsset(m.newSampler(key[1:], info))
	})
	if err != nil {
		return nil, err
	}
	return a.(*Sampler), nil
}

func (m *Manager) newSampler(name string, info vk.SamplerInfo) (*Sampler, error) {
	vs, err := m.dev.NewSampler(info)
	if err != nil {
		return nil, fmt.Errorf("sampler %q: %w", name, err)
	}
	_ = m.dev.SetName(vk.ObjectSampler, uint64(vs), name)
	s := &Sampler{Info: info, Sampler: vs}
	if err := m.newBase(&s.Base, "sampler", name, s); err != nil {
		m.dev.DestroySampler(vs) // never used by the GPU
		return nil, err
	}
	return s, nil
}
