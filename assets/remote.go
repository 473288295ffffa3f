package assets

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// LoadRemote loads an image over HTTP(S) into the same chain as a local
// file — ImageAsset, Texture2D, SpriteFrame — cached by URL with
// dependencies and counts recorded, and returns the SpriteFrame. The request
// is bounded by Options.RemoteTimeout and the body by Options.RemoteMaxBytes.
func (m *Manager) LoadRemote(ctx context.Context, url string) (*SpriteFrame, error) {
	return m.loadSprite(ctx, url, url, TextureOptions{}, func(ctx context.Context) ([]byte, error) { return m.fetch(ctx, url) })
}

// AcquireRemote is LoadRemote that also takes a reference for the caller
// in the same step (see Bundle.Acquire).
func (m *Manager) AcquireRemote(ctx context.Context, url string) (*SpriteFrame, error) {
	return m.LoadRemote(context.WithValue(ctx, acquireKey{}, true), url)
}

func (m *Manager) fetch(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.RemoteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s", ErrHTTP, resp.Status)
	}
	limit := m.opts.RemoteMaxBytes
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: body of %d bytes, the limit is %d", ErrTooLarge, resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrTooLarge, limit)
	}
	return data, nil
}
