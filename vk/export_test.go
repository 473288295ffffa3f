package vk

// NewInstanceForAPI is NewInstance creating the instance for api, below the
// Vulkan 1.1 vkassets needs too: the tests make an application's Vulkan 1.0
// instance and device with it, to wrap.
func NewInstanceForAPI(opts InstanceOptions, api Version) (*Instance, error) {
	opts.apiVersion = api
	return NewInstance(opts)
}

// TransferFamily is transferFamily, for tests of the choice on made-up
// devices.
func TransferFamily(p *PhysicalDevice) int { return transferFamily(p) }
