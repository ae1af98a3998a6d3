from huatuo_ray.cli import main

main()
