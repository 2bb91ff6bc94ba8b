/*
 * The C round trip, for benches/c_roundtrip.rs: a main in C answers
 * "ping" with 16 bytes; it spawns this program again as the renderer,
 * which times send_sync_into calls and prints one line:
 *   HOT_P50_NS HOT_P99_NS COLD_P50_NS COLD_P99_NS
 * Usage: roundtrip HOT_BLOCKS BLOCK_CALLS COLD_CALLS COLD_GAP_US
 */
#define _GNU_SOURCE
#include "ringipc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t quantile(uint64_t *sorted, size_t n, double q) {
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return sorted[i];
}

static const uint8_t reply16[16] = "pong-pong-pong!";

static void on_ping(ringipc_main_event *event, const uint8_t *arg, size_t len, void *user_data) {
    (void)arg; (void)len; (void)user_data;
    ringipc_main_event_set_return_value(event, reply16, sizeof reply16);
}

static void call(ringipc_renderer *ipc) {
    static const uint8_t request[16] = "ping-ping-ping!";
    uint8_t buffer[64];
    size_t got;
    if (ringipc_renderer_send_sync_into(ipc, "ping", request, sizeof request, -1, buffer, sizeof buffer, &got) != RINGIPC_STATUS_OK || got != 16) {
        fprintf(stderr, "roundtrip: call failed: %s\n", ringipc_last_error());
        exit(1);
    }
}

static int renderer(int blocks, int block_calls, int cold_calls, int gap_us) {
    ringipc_renderer *ipc = NULL;
    if (ringipc_renderer_connect(true, &ipc) != RINGIPC_STATUS_OK) {
        fprintf(stderr, "roundtrip: %s\n", ringipc_last_error());
        return 1;
    }
    size_t n = (size_t)blocks * (size_t)block_calls;
    uint64_t *hot = malloc(n * sizeof *hot), *cold = malloc((size_t)cold_calls * sizeof *cold);
    size_t k = 0;
    for (int b = 0; b < blocks; b++) {
        for (int i = 0; i < block_calls / 10; i++) call(ipc); /* warm up */
        for (int i = 0; i < block_calls; i++) {
            uint64_t start = now_ns();
            call(ipc);
            hot[k++] = now_ns() - start;
        }
    }
    struct timespec gap = { 0, (long)gap_us * 1000 };
    for (int i = 0; i < cold_calls; i++) {
        nanosleep(&gap, NULL);
        uint64_t start = now_ns();
        call(ipc);
        cold[i] = now_ns() - start;
    }
    qsort(hot, n, sizeof *hot, by_value);
    qsort(cold, (size_t)cold_calls, sizeof *cold, by_value);
    printf("%llu %llu %llu %llu\n",
           (unsigned long long)quantile(hot, n, 0.5), (unsigned long long)quantile(hot, n, 0.99),
           (unsigned long long)quantile(cold, (size_t)cold_calls, 0.5),
           (unsigned long long)quantile(cold, (size_t)cold_calls, 0.99));
    free(hot);
    free(cold);
    ringipc_renderer_free(ipc);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "--renderer") == 0)
        return renderer(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc != 5) {
        fprintf(stderr, "usage: %s HOT_BLOCKS BLOCK_CALLS COLD_CALLS COLD_GAP_US\n", argv[0]);
        return 2;
    }
    ringipc_main *ipc = NULL;
    if (ringipc_main_new(NULL, &ipc) != RINGIPC_STATUS_OK ||
        ringipc_main_on(ipc, "ping", on_ping, NULL, NULL, NULL) != RINGIPC_STATUS_OK) {
        fprintf(stderr, "roundtrip: %s\n", ringipc_last_error());
        return 1;
    }
    char *self = realpath(argv[0], NULL);
    const char *args[] = { "--renderer", argv[1], argv[2], argv[3], argv[4] };
    ringipc_web_contents *contents = NULL;
    int32_t pid = 0;
    if (self == NULL || ringipc_main_spawn(ipc, self, args, 5, &contents, &pid) != RINGIPC_STATUS_OK) {
        fprintf(stderr, "roundtrip: spawn: %s\n", ringipc_last_error());
        return 1;
    }
    free(self);
    int status = 0;
    waitpid(pid, &status, 0);
    ringipc_web_contents_free(contents);
    ringipc_main_free(ipc);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
