/*
 * The floor of an upload on this machine (bench/storage.ts): one file copied to another on the
 * same disk while its MD5 is computed, as the storage service must for every upload, with
 * nothing else: no network, no HTTP, no client. The reading thread fills a ring of four reused
 * 1 MiB slots and writes each one; a second thread hashes each slot with OpenSSL (what Node's
 * crypto uses) and hands it back. Then fsync, as the service does before answering.
 *
 *   cc -O2 -o storage-floor storage-floor.c -lcrypto -lpthread
 *   storage-floor SOURCE TARGET [--no-md5]    # prints the MD5 (or nothing) on stdout
 *
 * `--no-md5` copies through the same ring without hashing: next to a plain `cp`, it shows the
 * ring itself costs nothing, so the gap between the two is what the digest costs here.
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 4
#define SLOT (1 << 20)

static unsigned char ring[SLOTS][SLOT];
static ssize_t filled[SLOTS];
/* Slots with bytes to hash, and slots free for the reader. */
static sem_t to_hash, free_slots;
static unsigned char digest[EVP_MAX_MD_SIZE];

static void *hash_ring(void *unused) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
  for (int i = 0;; i = (i + 1) % SLOTS) {
    sem_wait(&to_hash);
    if (filled[i] == 0) break;
    EVP_DigestUpdate(ctx, ring[i], (size_t)filled[i]);
    sem_post(&free_slots);
  }
  EVP_DigestFinal_ex(ctx, digest, NULL);
  EVP_MD_CTX_free(ctx);
  return unused;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SOURCE TARGET [--no-md5]\n", argv[0]);
    return 2;
  }
  int hash = !(argc > 3 && strcmp(argv[3], "--no-md5") == 0);
  int in = open(argv[1], O_RDONLY);
  int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || out < 0) {
    perror("open");
    return 1;
  }
  sem_init(&to_hash, 0, 0);
  sem_init(&free_slots, 0, SLOTS);
  pthread_t hasher;
  if (hash) pthread_create(&hasher, NULL, hash_ring, NULL);
  for (int i = 0;; i = (i + 1) % SLOTS) {
    sem_wait(&free_slots);
    ssize_t n = read(in, ring[i], SLOT);
    if (n < 0) {
      perror("read");
      return 1;
    }
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out, ring[i] + done, (size_t)(n - done));
      if (w < 0) {
        perror("write");
        return 1;
      }
      done += w;
    }
    filled[i] = n;
    sem_post(hash ? &to_hash : &free_slots);
    if (n == 0) break;
  }
  if (hash) pthread_join(hasher, NULL);
  if (fsync(out) != 0) {
    perror("fsync");
    return 1;
  }
  if (hash) {
    for (int k = 0; k < 16; k++) printf("%02x", digest[k]);
    printf("\n");
  }
  return 0;
}
