module github.com/vkassets/vkassets/bench/peer

go 1.26.0

require (
	github.com/vkassets/vkassets v0.0.0
	github.com/vkngwrapper/arsenal/memutils v1.1.3
)

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/dolthub/swiss v0.2.1 // indirect
	github.com/launchdarkly/go-jsonstream/v3 v3.1.0 // indirect
	github.com/mailru/easyjson v0.7.7 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/vulkan-go/vulkan v0.0.0-20221209234627-c0a353ae26c8 // indirect
	golang.org/x/image v0.47.0 // indirect
)

replace github.com/vkassets/vkassets => ../..
