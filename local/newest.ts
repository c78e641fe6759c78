/** The newest `capacity` items, oldest first. Adding one costs the same however full it is. */
export class Newest<T> {
  private readonly items: T[] = [];
  /** Where the oldest item is, once the buffer is full. */
  private oldest = 0;

  constructor(private readonly capacity: number) {}

  push(item: T): void {
    if (this.items.length < this.capacity) {
      this.items.push(item);
    } else {
      this.items[this.oldest] = item;
      this.oldest = (this.oldest + 1) % this.capacity;
    }
  }

  toArray(): T[] {
    return [...this.items.slice(this.oldest), ...this.items.slice(0, this.oldest)];
  }

  clear(): void {
    this.items.length = 0;
    this.oldest = 0;
  }
}
