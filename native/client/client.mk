# The C client library of the application channel (included by
# native/Makefile). Builds, under $(BUILD)/client/:
#   libbraidclient.a    braid_client.c + the channel's application side
#   braid-echo-client   the example program
# Applications: -Inative/client -Inative/engine/include, link
# libbraidclient.a (no other library needed).
CLIENT_SRC := client/braid_client.c engine/src/chan_region.c engine/src/chan_server.c
CLIENT_CFLAGS := -O2 -g $(STD) $(WARN) -Iengine/include -Iengine/src -Iclient
CLIENT_OBJ := $(patsubst %.c,$(BUILD)/client/%.o,$(CLIENT_SRC))

.PHONY: client
client: $(BUILD)/client/libbraidclient.a $(BUILD)/client/braid-echo-client

$(BUILD)/client/%.o: %.c client/braid_client.h engine/include/braid/chan.h \
		engine/src/chan_impl.h engine/src/chan_view.h
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -c $< -o $@
$(BUILD)/client/libbraidclient.a: $(CLIENT_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/client/braid-echo-client: client/braid_echo_client.c $(BUILD)/client/libbraidclient.a
	$(CC) $(CLIENT_CFLAGS) -o $@ $< $(BUILD)/client/libbraidclient.a
