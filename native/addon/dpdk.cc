// SPDX-License-Identifier: Apache-2.0
// DPDK's Environment Abstraction Layer from Node: start it once per process
// and describe the ports it found.
#include <string>
#include <vector>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_version.h>

#include "addon.h"

static bool eal_started;

static Napi::Object PortInfo(Napi::Env env, uint16_t port_id)
{
	Napi::Object o = Napi::Object::New(env);
	char name[RTE_ETH_NAME_MAX_LEN] = "";
	struct rte_eth_dev_info info = {};
	struct rte_ether_addr mac = {};
	char macbuf[RTE_ETHER_ADDR_FMT_SIZE] = "";

	rte_eth_dev_get_name_by_port(port_id, name);
	o.Set("id", port_id);
	o.Set("name", name);
	if (rte_eth_dev_info_get(port_id, &info) == 0) {
		o.Set("driver", info.driver_name ? info.driver_name : "");
		o.Set("max_rx_queues", info.max_rx_queues);
		o.Set("max_tx_queues", info.max_tx_queues);
		o.Set("socket", rte_eth_dev_socket_id(port_id));
	}
	if (rte_eth_macaddr_get(port_id, &mac) == 0) {
		rte_ether_format_addr(macbuf, sizeof(macbuf), &mac);
		o.Set("mac", macbuf);
	}
	return o;
}

static Napi::Array Ports(Napi::Env env)
{
	Napi::Array ports = Napi::Array::New(env);
	uint32_t i = 0;
	uint16_t port_id;
	RTE_ETH_FOREACH_DEV(port_id)
	{
		ports.Set(i++, PortInfo(env, port_id));
	}
	return ports;
}

// ealInit(args: string[]) -> { version, ports }. args are EAL arguments
// without the program name. Throws with DPDK's reason when EAL refuses.
static Napi::Value EalInit(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 1 || !info[0].IsArray())
		throw Napi::TypeError::New(
		    env, "ealInit: expected an array of EAL arguments");
	if (eal_started)
		throw Napi::Error::New(
		    env, "ealInit: EAL is already running in this process");

	Napi::Array arr = info[0].As<Napi::Array>();
	std::vector<std::string> args;
	args.push_back("braid");
	for (uint32_t i = 0; i < arr.Length(); i++) {
		Napi::Value v = arr.Get(i);
		if (!v.IsString())
			throw Napi::TypeError::New(env, "ealInit: argument " +
							    std::to_string(i) +
							    " is not a string");
		args.push_back(v.As<Napi::String>().Utf8Value());
	}
	std::vector<char *> argv;
	for (auto &a : args)
		argv.push_back(a.data());
	argv.push_back(nullptr);

	int rc = rte_eal_init((int)args.size(), argv.data());
	if (rc < 0) {
		int err = rte_errno;
		throw Napi::Error::New(env,
				       std::string("DPDK EAL did not start: ") +
					   rte_strerror(err) + " (rte_errno " +
					   std::to_string(err) + ")");
	}
	eal_started = true;

	Napi::Object out = Napi::Object::New(env);
	out.Set("version", rte_version());
	out.Set("lcores", rte_lcore_count());
	out.Set("ports", Ports(env));
	return out;
}

static Napi::Value DpdkVersion(const Napi::CallbackInfo &info)
{
	return Napi::String::New(info.Env(), rte_version());
}

static Napi::Value EalPorts(const Napi::CallbackInfo &info)
{
	if (!eal_started)
		throw Napi::Error::New(
		    info.Env(), "EAL is not running: call ealInit first");
	return Ports(info.Env());
}

static Napi::Value EalCleanup(const Napi::CallbackInfo &info)
{
	if (eal_started) {
		uint16_t port_id;
		RTE_ETH_FOREACH_DEV(port_id)
		{
			rte_eth_dev_close(port_id);
		}
		rte_eal_cleanup();
		eal_started = false;
	}
	return info.Env().Undefined();
}

void InitDpdk(Napi::Env env, Napi::Object exports)
{
	exports.Set("ealInit", Napi::Function::New(env, EalInit));
	exports.Set("ealPorts", Napi::Function::New(env, EalPorts));
	exports.Set("ealCleanup", Napi::Function::New(env, EalCleanup));
	exports.Set("dpdkVersion", Napi::Function::New(env, DpdkVersion));
}
