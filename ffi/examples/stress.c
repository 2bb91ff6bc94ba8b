/*
 * A stress test of the C API, meant to run under valgrind memcheck or
 * AddressSanitizer: several rounds, each with a new main (alternately with
 * its own dispatcher thread and dispatched from this loop), four spawned
 * renderers (two that make every kind of call and then leave, one that
 * calls until main kills it, one without a receiver thread that takes
 * main's messages from its own poll loop), callbacks with user data that
 * must be freed, once-listeners and once-handlers, and the error paths
 * (NULL arguments, a missing program, a small buffer, a failing handler, a
 * channel nobody listens on, calls in the wrong mode).
 *
 * Usage: stress [ROUNDS [CALLS]]                   the main process
 *        stress --renderer calls|spin|pump CALLS   what main spawns
 * Exits 0 when every check held.
 */
#define _GNU_SOURCE
#include "ringipc.h"

#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BIG_LEN 100000

static void die(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "stress[%d]: ", (int)getpid());
    vfprintf(stderr, fmt, args);
    fprintf(stderr, " (last error: %s)\n", ringipc_last_error());
    va_end(args);
    exit(3);
}

#define CHECK(cond, ...) do { if (!(cond)) die(__VA_ARGS__); } while (0)

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint8_t big_byte(size_t i) { return (uint8_t)(i * 7 + 3); }

/* ---- main's callbacks ---------------------------------------------------- */

/* User data every registration carries; freed through free_counter. */
typedef struct { atomic_long calls; } counter;
static atomic_int counters_alive;

static counter *new_counter(void) {
    counter *c = calloc(1, sizeof *c);
    atomic_fetch_add(&counters_alive, 1);
    return c;
}

static void free_counter(void *user_data) {
    atomic_fetch_sub(&counters_alive, 1);
    free(user_data);
}

static void on_echo(ringipc_main_event *event, const uint8_t *arg, size_t len, void *user_data) {
    atomic_fetch_add(&((counter *)user_data)->calls, 1);
    CHECK(ringipc_main_event_is_sync(event), "echo is a sync channel");
    CHECK(strcmp(ringipc_main_event_channel(event), "echo") == 0, "channel name");
    CHECK(ringipc_main_event_set_return_value(event, arg, len), "first value set");
    CHECK(!ringipc_main_event_set_return_value(event, arg, len), "second value ignored");
}

static void on_big(ringipc_main_event *event, const uint8_t *arg, size_t len, void *user_data) {
    (void)arg; (void)len; (void)user_data;
    uint8_t *big = malloc(BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++) big[i] = big_byte(i);
    ringipc_main_event_set_return_value(event, big, BIG_LEN);
    free(big);
}

static void on_note(ringipc_main_event *event, const uint8_t *arg, size_t len, void *user_data) {
    atomic_fetch_add(&((counter *)user_data)->calls, 1);
    CHECK(!ringipc_main_event_is_sync(event), "note is asynchronous");
    ringipc_status s = ringipc_main_event_reply(event, "note-back", arg, len);
    CHECK(s == RINGIPC_STATUS_OK || s == RINGIPC_STATUS_DISCONNECTED, "reply: %s", ringipc_status_name(s));
}

static int on_double(ringipc_main_event *event, const uint8_t *arg, size_t len, void *user_data) {
    (void)user_data;
    if (len == 4 && memcmp(arg, "fail", 4) == 0) {
        ringipc_main_event_set_error(event, "refused: fail");
        return 1;
    }
    uint8_t out[128];
    CHECK(len <= 64, "double takes short args");
    memcpy(out, arg, len);
    memcpy(out + len, arg, len);
    ringipc_main_event_set_return_value(event, out, 2 * len);
    return 0;
}

static atomic_int firsts;

static void on_first(ringipc_main_event *event, const uint8_t *arg, size_t len, void *user_data) {
    (void)event; (void)arg; (void)len; (void)user_data;
    atomic_fetch_add(&firsts, 1);
}

static int on_once_handler(ringipc_main_event *event, const uint8_t *arg, size_t len, void *user_data) {
    (void)arg; (void)len; (void)user_data;
    ringipc_main_event_set_return_value(event, (const uint8_t *)"once", 4);
    return 0;
}

static atomic_int disconnected;

static void on_disconnected(const ringipc_web_contents *contents, const char *reason, void *user_data) {
    (void)user_data;
    CHECK(ringipc_web_contents_id(contents) != 0, "a renderer has an id");
    CHECK(reason != NULL && reason[0] != '\0', "a disconnect has a reason");
    atomic_fetch_add(&disconnected, 1);
}

static atomic_int connected;

static void on_connected(const ringipc_web_contents *contents, void *user_data) {
    (void)user_data;
    CHECK(ringipc_web_contents_is_connected(contents), "connected");
    atomic_fetch_add(&connected, 1);
}

/* ---- main ------------------------------------------------------------------ */

static void check_bad_arguments(ringipc_main *ipc) {
    CHECK(ringipc_main_on(ipc, NULL, on_note, NULL, NULL, NULL) == RINGIPC_STATUS_INVALID_ARGUMENT, "NULL channel");
    /* The user data is freed even when registering fails. */
    CHECK(ringipc_main_on(ipc, "", on_note, new_counter(), free_counter, NULL) == RINGIPC_STATUS_INVALID_CHANNEL, "empty channel");
    CHECK(ringipc_main_on(ipc, "x", NULL, new_counter(), free_counter, NULL) == RINGIPC_STATUS_INVALID_ARGUMENT, "NULL listener");
    CHECK(ringipc_main_handle(ipc, "double", on_double, new_counter(), free_counter) == RINGIPC_STATUS_HANDLER_EXISTS, "second handler");
    CHECK(ringipc_main_new(NULL, NULL) == RINGIPC_STATUS_INVALID_ARGUMENT, "NULL out");
    CHECK(ringipc_main_dispatch(NULL, 0, NULL) == RINGIPC_STATUS_INVALID_ARGUMENT, "NULL main");
    ringipc_web_contents *nobody = NULL;
    CHECK(ringipc_main_spawn(ipc, "/nonexistent/renderer", NULL, 0, &nobody, NULL) == RINGIPC_STATUS_IO, "missing program");
    CHECK(nobody == NULL, "no handle for a failed spawn");
    const char *argv[] = { "a", NULL };
    CHECK(ringipc_main_spawn(ipc, "/bin/true", argv, 2, &nobody, NULL) == RINGIPC_STATUS_INVALID_ARGUMENT, "NULL argument");
    /* A listener registered and removed again. */
    uint64_t id = 0;
    CHECK(ringipc_main_on(ipc, "gone", on_note, new_counter(), free_counter, &id) == RINGIPC_STATUS_OK && id != 0, "on");
    CHECK(ringipc_main_listener_count(ipc, "gone") == 1, "one listener");
    CHECK(ringipc_main_remove_listener(ipc, id), "removed");
    CHECK(!ringipc_main_remove_listener(ipc, id), "removed once");
}

static int run_round(const char *self, int round, int calls) {
    int hosted = round % 2 == 1;
    ringipc_config *config = ringipc_config_new();
    CHECK(ringipc_config_set_dispatcher_thread(config, !hosted) == RINGIPC_STATUS_OK, "config");
    CHECK(ringipc_config_set_dispatcher_spin_us(config, 0) == RINGIPC_STATUS_OK, "config");
    CHECK(ringipc_config_set_ring_capacities(config, 1 << 16, 1 << 16) == RINGIPC_STATUS_OK, "config");
    CHECK(ringipc_config_set_streaming_stores(config, round % 4 < 2) == RINGIPC_STATUS_OK, "config");
    ringipc_main *ipc = NULL;
    CHECK(ringipc_main_new(config, &ipc) == RINGIPC_STATUS_OK, "ringipc_main_new");
    ringipc_config_free(config);
    if (!hosted)
        CHECK(ringipc_main_dispatch(ipc, 0, NULL) == RINGIPC_STATUS_WRONG_MODE, "dispatch needs a hosted main");

    counter *echoes = new_counter(), *notes = new_counter();
    CHECK(ringipc_main_on(ipc, "echo", on_echo, echoes, free_counter, NULL) == RINGIPC_STATUS_OK, "on echo");
    CHECK(ringipc_main_on(ipc, "big", on_big, NULL, NULL, NULL) == RINGIPC_STATUS_OK, "on big");
    CHECK(ringipc_main_on(ipc, "note", on_note, notes, free_counter, NULL) == RINGIPC_STATUS_OK, "on note");
    CHECK(ringipc_main_handle(ipc, "double", on_double, new_counter(), free_counter) == RINGIPC_STATUS_OK, "handle");
    CHECK(ringipc_main_on_connected(ipc, on_connected, new_counter(), free_counter) == RINGIPC_STATUS_OK, "on_connected");
    CHECK(ringipc_main_on_disconnected(ipc, on_disconnected, new_counter(), free_counter) == RINGIPC_STATUS_OK, "on_disconnected");
    CHECK(ringipc_main_once(ipc, "first", on_first, new_counter(), free_counter, NULL) == RINGIPC_STATUS_OK, "once");
    CHECK(ringipc_main_handle_once(ipc, "once-handler", on_once_handler, new_counter(), free_counter) == RINGIPC_STATUS_OK, "handle_once");
    atomic_store(&firsts, 0);
    check_bad_arguments(ipc);

    char calls_text[16];
    snprintf(calls_text, sizeof calls_text, "%d", calls);
    const char *modes[4] = { "calls", "calls", "spin", "pump" };
    ringipc_web_contents *renderers[4];
    int32_t pids[4];
    atomic_store(&disconnected, 0);
    atomic_store(&connected, 0);
    for (int i = 0; i < 4; i++) {
        const char *argv[] = { "--renderer", modes[i], calls_text };
        CHECK(ringipc_main_spawn(ipc, self, argv, 3, &renderers[i], &pids[i]) == RINGIPC_STATUS_OK, "spawn");
        CHECK(ringipc_web_contents_pid(renderers[i]) == (uint32_t)pids[i], "pid");
    }
    CHECK(atomic_load(&connected) == 4, "four connected");
    CHECK(ringipc_web_contents_send(renderers[0], "welcome", (const uint8_t *)"hi", 2) == RINGIPC_STATUS_OK, "send");
    /* The pump renderer gets its messages through a second handle. */
    ringipc_web_contents *pump = ringipc_web_contents_clone(renderers[3]);
    CHECK(pump != NULL && ringipc_web_contents_id(pump) == ringipc_web_contents_id(renderers[3]), "clone");
    for (int i = 0; i < calls; i++) {
        char tick[32];
        int n = snprintf(tick, sizeof tick, "tick %d", i);
        CHECK(ringipc_web_contents_send(pump, "tick", (const uint8_t *)tick, (size_t)n) == RINGIPC_STATUS_OK, "tick");
    }
    CHECK(ringipc_web_contents_send(pump, "bye", NULL, 0) == RINGIPC_STATUS_OK, "bye");
    CHECK(ringipc_web_contents_wait_sent(pump, 60000) == RINGIPC_STATUS_OK, "wait_sent");
    ringipc_web_contents_free(pump);

    /* Wait for the three that leave on their own; keep dispatching if hosted. */
    int finishing[3] = { 0, 1, 3 };
    int left = 3;
    double deadline = now_s() + 300;
    while (left > 0) {
        CHECK(now_s() < deadline, "renderers did not finish");
        if (hosted)
            CHECK(ringipc_main_dispatch(ipc, 5, NULL) == RINGIPC_STATUS_OK, "dispatch");
        else
            usleep(2000);
        for (int k = 0; k < 3; k++) {
            int i = finishing[k], status;
            if (pids[i] != 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
                CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "renderer %d failed", i);
                pids[i] = 0;
                left--;
            }
        }
    }
    /* The third never stops calling: a crash, as main sees it. */
    kill(pids[2], SIGKILL);
    int status;
    CHECK(waitpid(pids[2], &status, 0) == pids[2], "waitpid");
    while (atomic_load(&disconnected) < 4) {
        CHECK(now_s() < deadline, "disconnects not seen: %d", atomic_load(&disconnected));
        if (hosted)
            CHECK(ringipc_main_dispatch(ipc, 5, NULL) == RINGIPC_STATUS_OK, "dispatch");
        else
            usleep(2000);
    }
    CHECK(ringipc_web_contents_send(renderers[2], "late", NULL, 0) == RINGIPC_STATUS_DISCONNECTED, "send to the dead");
    CHECK(ringipc_web_contents_wait_sent(renderers[2], -1) == RINGIPC_STATUS_DISCONNECTED, "wait_sent on the dead");
    CHECK(atomic_load(&echoes->calls) >= 2 * 2 * calls, "echo calls: %ld", atomic_load(&echoes->calls));
    CHECK(atomic_load(&notes->calls) == 2 * calls, "notes: %ld", atomic_load(&notes->calls));

    CHECK(atomic_load(&firsts) == 1, "a once-listener ran %d times", atomic_load(&firsts));
    CHECK(ringipc_main_remove_handler(ipc, "double"), "remove_handler");
    CHECK(!ringipc_main_remove_handler(ipc, "double"), "removed already");
    CHECK(ringipc_main_remove_all_listeners(ipc, "echo") == 1, "remove_all_listeners(echo)");
    CHECK(ringipc_main_listener_count(ipc, "echo") == 0, "echo gone");
    CHECK(ringipc_main_remove_all_listeners(ipc, NULL) == 2, "remove_all_listeners(NULL)");

    for (int i = 0; i < 4; i++) ringipc_web_contents_free(renderers[i]);
    ringipc_main_shutdown(ipc);
    ringipc_status after = ringipc_main_dispatch(ipc, 0, NULL);
    CHECK(after == (hosted ? RINGIPC_STATUS_DISCONNECTED : RINGIPC_STATUS_WRONG_MODE), "dispatch after shutdown: %s", ringipc_status_name(after));
    CHECK(strcmp(ringipc_status_name(9999), "RINGIPC_STATUS_UNKNOWN") == 0, "unknown status");
    ringipc_main_free(ipc);
    CHECK(atomic_load(&counters_alive) == 0, "user data not freed: %d left", atomic_load(&counters_alive));
    return 0;
}

/* ---- the renderers --------------------------------------------------------- */

static atomic_long notes_back;

static void on_note_back(ringipc_renderer_event *event, const uint8_t *arg, size_t len, void *user_data) {
    (void)arg; (void)len; (void)user_data;
    CHECK(strcmp(ringipc_renderer_event_channel(event), "note-back") == 0, "channel");
    CHECK(ringipc_renderer_event_sender_id(event) == 0, "from main");
    atomic_fetch_add(&notes_back, 1);
}

/* Both "calls" renderers do this once: "first" reaches main's
 * once-listener once in all, and the once-handler answers one invoke. */
static void first_and_once(ringipc_renderer *ipc) {
    ringipc_bytes reply = {0};
    CHECK(ringipc_renderer_send(ipc, "first", NULL, 0) == RINGIPC_STATUS_OK, "first");
    ringipc_invocation *pending = NULL;
    CHECK(ringipc_renderer_invoke(ipc, "once-handler", NULL, 0, &pending) == RINGIPC_STATUS_OK, "invoke");
    ringipc_status s = ringipc_invocation_wait(pending, -1, &reply);
    CHECK(s == RINGIPC_STATUS_OK || s == RINGIPC_STATUS_NO_HANDLER, "once-handler: %s", ringipc_status_name(s));
    CHECK(s != RINGIPC_STATUS_OK || (reply.len == 4 && memcmp(reply.data, "once", 4) == 0), "once answer");
    ringipc_bytes_free(&reply);
}

static atomic_int renderer_user_data_alive;

static void free_renderer_user_data(void *user_data) {
    CHECK(user_data == &notes_back, "the user data given");
    atomic_fetch_sub(&renderer_user_data_alive, 1);
}

static void renderer_calls(ringipc_renderer *ipc, int calls) {
    atomic_store(&renderer_user_data_alive, 1);
    CHECK(ringipc_renderer_on(ipc, "note-back", on_note_back, &notes_back, free_renderer_user_data, NULL) == RINGIPC_STATUS_OK, "on");
    ringipc_message wrong = {0};
    CHECK(ringipc_renderer_recv(ipc, 0, &wrong) == RINGIPC_STATUS_WRONG_MODE, "recv with a receiver thread");
    char msg[64];
    uint8_t buffer[64];
    for (int i = 0; i < calls; i++) {
        int n = snprintf(msg, sizeof msg, "message %d from %u", i, ringipc_renderer_id(ipc));
        ringipc_bytes reply = {0};
        CHECK(ringipc_renderer_send_sync(ipc, "echo", (const uint8_t *)msg, (size_t)n, -1, &reply) == RINGIPC_STATUS_OK, "echo");
        CHECK(reply.len == (size_t)n && memcmp(reply.data, msg, (size_t)n) == 0, "echo came back");
        ringipc_bytes_free(&reply);
        ringipc_bytes_free(&reply); /* harmless twice */

        size_t got = 0;
        CHECK(ringipc_renderer_send_sync_into(ipc, "echo", (const uint8_t *)msg, (size_t)n, 10000, buffer, sizeof buffer, &got) == RINGIPC_STATUS_OK, "echo into");
        CHECK(got == (size_t)n && memcmp(buffer, msg, got) == 0, "echo into came back");

        if (i % 16 == 0) {
            CHECK(ringipc_renderer_send_sync_into(ipc, "big", NULL, 0, -1, buffer, sizeof buffer, &got) == RINGIPC_STATUS_BUFFER_TOO_SMALL, "small buffer");
            CHECK(got == BIG_LEN, "needed length");
            CHECK(ringipc_renderer_send_sync(ipc, "big", NULL, 0, -1, &reply) == RINGIPC_STATUS_OK, "big");
            CHECK(reply.len == BIG_LEN, "big length");
            for (size_t j = 0; j < BIG_LEN; j++) CHECK(reply.data[j] == big_byte(j), "big byte %zu", j);
            ringipc_bytes_free(&reply);
            CHECK(ringipc_renderer_send_sync(ipc, "nobody", NULL, 0, -1, &reply) == RINGIPC_STATUS_NO_LISTENER, "no listener");
            CHECK(reply.data == NULL, "no reply on failure");
        }

        ringipc_invocation *pending = NULL;
        if (i == 0) {
            first_and_once(ipc);
        }
        CHECK(ringipc_renderer_invoke(ipc, "double", (const uint8_t *)"ab", 2, &pending) == RINGIPC_STATUS_OK, "invoke");
        CHECK(ringipc_invocation_wait(pending, -1, &reply) == RINGIPC_STATUS_OK, "invoke answer");
        CHECK(reply.len == 4 && memcmp(reply.data, "abab", 4) == 0, "doubled");
        ringipc_bytes_free(&reply);
        CHECK(ringipc_renderer_invoke(ipc, "double", (const uint8_t *)"fail", 4, &pending) == RINGIPC_STATUS_OK, "invoke");
        CHECK(ringipc_invocation_wait(pending, -1, &reply) == RINGIPC_STATUS_HANDLER_FAILED, "handler failed");
        CHECK(strstr(ringipc_last_error(), "refused: fail") != NULL, "error text: %s", ringipc_last_error());

        CHECK(ringipc_renderer_send(ipc, "note", (const uint8_t *)msg, (size_t)n) == RINGIPC_STATUS_OK, "note");
    }
    double deadline = now_s() + 120;
    while (atomic_load(&notes_back) < calls) {
        CHECK(now_s() < deadline, "notes back: %ld of %d", atomic_load(&notes_back), calls);
        usleep(1000);
    }
    /* Leave with an invocation in flight and another dropped unwaited. */
    ringipc_invocation *dropped = NULL, *abandoned = NULL;
    CHECK(ringipc_renderer_invoke(ipc, "double", (const uint8_t *)"x", 1, &dropped) == RINGIPC_STATUS_OK, "invoke");
    ringipc_invocation_free(dropped);
    CHECK(ringipc_renderer_invoke(ipc, "double", (const uint8_t *)"y", 1, &abandoned) == RINGIPC_STATUS_OK, "invoke");
    ringipc_invocation_free(abandoned);
}

/* No receiver thread: waits on the descriptor and takes main's messages
 * with recv until "bye". */
static void renderer_pump(ringipc_renderer *ipc, int calls) {
    int fd = ringipc_renderer_fd(ipc);
    CHECK(fd >= 0, "a descriptor");
    int ticks = 0;
    double deadline = now_s() + 120;
    for (;;) {
        CHECK(now_s() < deadline, "ticks: %d of %d", ticks, calls);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        poll(&p, 1, 100);
        ringipc_message m = {0};
        ringipc_status s;
        while ((s = ringipc_renderer_recv(ipc, 0, &m)) == RINGIPC_STATUS_OK) {
            CHECK(m.sender_id == 0, "from main");
            CHECK(m.channel.data[m.channel.len] == 0, "NUL-terminated channel");
            if (strcmp((const char *)m.channel.data, "bye") == 0) {
                CHECK(ticks == calls, "ticks before bye: %d of %d", ticks, calls);
                CHECK(m.payload.data == NULL && m.payload.len == 0, "empty payload");
                ringipc_message_free(&m);
                return;
            }
            char expected[32];
            int n = snprintf(expected, sizeof expected, "tick %d", ticks);
            CHECK(strcmp((const char *)m.channel.data, "tick") == 0, "channel %s", (const char *)m.channel.data);
            CHECK(m.payload.len == (size_t)n && memcmp(m.payload.data, expected, (size_t)n) == 0, "tick %d in order", ticks);
            ticks++;
            ringipc_message_free(&m);
            ringipc_message_free(&m); /* harmless twice */
        }
        CHECK(s == RINGIPC_STATUS_TIMEOUT, "recv: %s", ringipc_status_name(s));
    }
}

static int renderer(const char *mode, int calls) {
    ringipc_renderer *ipc = NULL;
    if (strcmp(mode, "pump") == 0) {
        CHECK(ringipc_renderer_connect(false, &ipc) == RINGIPC_STATUS_OK, "connect");
        renderer_pump(ipc, calls);
        ringipc_renderer_free(ipc);
        return 0;
    }
    CHECK(ringipc_renderer_connect(true, &ipc) == RINGIPC_STATUS_OK, "connect");
    ringipc_renderer *again = NULL;
    CHECK(ringipc_renderer_connect(true, &again) == RINGIPC_STATUS_NOT_A_RENDERER, "connect twice");
    if (strcmp(mode, "spin") == 0) {
        /* Calls until main kills this process. */
        for (;;) {
            size_t got;
            uint8_t buffer[16];
            ringipc_status s = ringipc_renderer_send_sync_into(ipc, "echo", (const uint8_t *)"spin", 4, -1, buffer, sizeof buffer, &got);
            CHECK(s == RINGIPC_STATUS_OK, "spin call: %s", ringipc_status_name(s));
        }
    }
    renderer_calls(ipc, calls);
    ringipc_renderer_free(ipc);
    CHECK(atomic_load(&renderer_user_data_alive) == 0, "a listener's user data outlived its renderer");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--renderer") == 0)
        return renderer(argv[2], atoi(argv[3]));
    int rounds = argc > 1 ? atoi(argv[1]) : 4;
    int calls = argc > 2 ? atoi(argv[2]) : 100;
    /* Not /proc/self/exe: under valgrind that names valgrind. */
    char *self = realpath(argv[0], NULL);
    CHECK(self != NULL, "cannot resolve %s", argv[0]);
    for (int round = 0; round < rounds; round++)
        run_round(self, round, calls);
    free(self);
    printf("stress: %d rounds of 4 renderers, %d calls each: ok\n", rounds, calls);
    return 0;
}
